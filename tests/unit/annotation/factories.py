"""Helpers that build annotation test data: stimulus grids, ratings loaded as long CSV, clips
watched through the player's record, and finished generation jobs."""

import csv
import io
from datetime import timedelta

from django.utils import timezone

from annotation import imports, responses, services


def grid(study, systems, utterances, **extra):
    """Add a stimulus (no media) for every system x utterance."""
    return [
        services.stimulus_add(study=study, path=None, system=s, utterance_id=u, **extra)
        for s in systems
        for u in utterances
    ]


def load_votes(study, rows, verdicts=None):
    """Load (rater, system, utterance, question, value) rows as imported completed sessions."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rater", "system", "utterance_id", "question", "value", "qc_verdict"])
    for rater, system, utterance, question, value in rows:
        writer.writerow(
            [rater, system, utterance, question, value, (verdicts or {}).get(rater, "")]
        )
    # Fixture votes keep the verdicts the test gives: QC on import is tested on its own.
    return imports.import_long_csv(study=study, text=out.getvalue(), run_qc=False)


def watched(session, item):
    """`item` after the player reported a play and, the clip's length later, its end."""
    started = timezone.now()
    responses.play_record(session=session, item=item, event="play", now=started)
    ended = started + timedelta(seconds=item.stimulus.duration_s or 0)
    return responses.play_record(session=session, item=item, event="ended", now=ended)


def finished_job(clip, model_id, kind="generate", status="succeeded", audio_name="u0.wav"):
    """A Job row of the jobs app that finished with `clip` as its video output."""
    from webapp.jobs.models import Job

    job = Job.objects.create(
        kind=kind,
        model_id=model_id,
        status=status,
        inputs={"audio": {"path": "input/audio.wav", "name": audio_name}},
    )
    (job.directory / "output").mkdir(parents=True)
    (job.directory / "output" / "out.mp4").write_bytes(clip.read_bytes())
    job.outputs = [{"name": "out.mp4", "path": "output/out.mp4", "content_type": "video/mp4"}]
    job.save()
    return job
