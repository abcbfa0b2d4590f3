"""Ready-made studies: the lip-sync paper study, built in one step from finished generation jobs.

What a talking-face paper reports (CALS, arXiv 2305.19556; annotation-research.md §7): realness
and lip-sync MOS, rated with the sound on beside the real recording (P.910 avatar Template B) or
alone (Template A), with problem tokens; and a lip-reading test on muted real and generated clips
of the same sentences, giving relative word accuracy with its CI. Each job gives its generated
video (system: the job's model) and its input video, the real recording (system "real").

The sentences are split in two: the first half is rated with sound, the second half is lip-read,
so no rater hears a sentence before reading it from the lips, and within the lip-reading part the
Latin square shows each rater a sentence under one system only. Raters first pass a display and
an audio check, then train on a real clip beside itself (every statement true) with feedback; each
session holds one trap clip whose sound asks for a given answer.
"""

from pathlib import Path

from django.db import transaction

from . import errors, questions, selectors, services
from .models import Study

REAL = "real"
TRAINING_FEEDBACK = (
    "Both sides showed the same real recording, so every statement was true: 'Agree' or "
    "'Strongly agree', and the lips matched the speech ('Good' or 'Excellent'). Generated "
    "videos are usually less convincing; use the whole scale."
)
CONSENT = (
    "You will watch short videos of people speaking, some made by a computer, and answer "
    "questions about them. Part of the study plays with sound; in another part the videos are "
    "silent and you type the words you see spoken. Your answers are stored without your name "
    "and used for research on video generation."
)


def _job_media(job, index: int) -> tuple[Path, Path]:
    if job.kind != job.Kind.GENERATE or job.status != job.Status.SUCCEEDED:
        raise errors.AnnotationError(f"item {index}: job {job.pk} is not a finished generation")
    videos = [o for o in job.outputs if o["content_type"].startswith("video/")]
    if not videos:
        raise errors.AnnotationError(f"item {index}: job {job.pk} has no video output")
    if "video" not in (job.inputs or {}):
        raise errors.AnnotationError(
            f"item {index}: job {job.pk} has no input video, so no real recording to compare with"
        )
    return job.output_path(videos[0]["name"]), job.input("video")


def lipsync_questions(template: str) -> list[dict]:
    """The study's questions: the rating part (sound on) first, then the lip-reading part."""
    if template not in {"A", "B"}:
        raise errors.AnnotationError("template must be 'A' (alone) or 'B' (beside the real)")
    avatar = questions.template_b if template == "B" else questions.template_a
    return [
        *avatar("rating"),
        questions.lipsync_mos("rating"),
        questions.problem_tokens("rating"),
        questions.lip_reading("lipreading"),
    ]


def lipsync_study_create(
    *, slug: str, title: str, items: list[dict], template: str = "B", **options
) -> Study:
    """Create the lip-sync paper study from generation jobs, all or none.

    Each item: {"job": a Job or its id, "utterance_id": ..., "reference_text": the words spoken
    (needed for lip reading), "system": optional, defaults to the job's model}. At least two
    sentences are needed (one rated, one lip-read).
    """
    jobs = []
    for index, item in enumerate(items):
        job = selectors.generation_job(item.get("job"))
        if job is None:
            raise errors.AnnotationError(f"item {index}: no job {item.get('job')!r}")
        utterance = str(item.get("utterance_id", "")).strip()
        if not utterance:
            raise errors.AnnotationError(f"item {index}: an utterance id is needed")
        generated, real = _job_media(job, index)
        system = str(item.get("system", "")).strip() or job.model_id or "generated"
        jobs.append((utterance, system, generated, real, item.get("reference_text", ""), job))
    utterances = sorted({u for u, *_ in jobs})
    if len(utterances) < 2:
        raise errors.AnnotationError(
            "a lip-sync study needs at least two sentences: one half is rated with sound, the "
            "other half read from the lips"
        )
    rated = set(utterances[: (len(utterances) + 1) // 2])
    defaults = {
        "platform": Study.Platform.PROLIFIC,
        "consent_text": CONSENT,
        "qualification": {"display": {}, "audio": {}},
        "traps_per_session": 1,
        "stimuli_per_session": 20,
        "duration_minutes": 15,
    }
    with transaction.atomic():
        study = services.study_create(
            slug=slug,
            title=title,
            questions=lipsync_questions(template),
            **{**defaults, **options},
        )
        reals = {}
        for utterance, system, generated, real, reference, job in jobs:
            reals.setdefault(utterance, (real, reference))
            if utterance in rated:
                services.stimulus_add(
                    study=study,
                    path=generated,
                    system=system,
                    utterance_id=utterance,
                    reference_text=reference,
                    source_job=job.pk,
                    section="rating",
                    **({"beside": real, "beside_system": REAL} if template == "B" else {}),
                )
            else:
                services.stimulus_add(
                    study=study,
                    path=generated,
                    system=system,
                    utterance_id=utterance,
                    reference_text=reference,
                    source_job=job.pk,
                    section="lipreading",
                )
        for utterance, (real, reference) in sorted(reals.items()):
            if utterance not in rated:
                services.stimulus_add(
                    study=study,
                    path=real,
                    system=REAL,
                    utterance_id=utterance,
                    reference_text=reference,
                    is_real=True,
                    section="lipreading",
                )
        first_real = reals[utterances[0]][0]
        _training(study, first_real, template)
        services.trap_add(study=study, video=first_real, answer=1, section="rating")
    return study


def _training(study: Study, real: Path, template: str) -> None:
    """A real clip (beside itself for Template B) whose every statement is true."""
    rating = selectors.section_questions(study, "rating")
    gold = {q.key: q.scale_max for q in rating if q.kind == "scale"}
    services.stimulus_add(
        study=study,
        path=real,
        system=REAL,
        utterance_id="training1",
        is_real=True,
        role="training",
        gold_answers=gold,
        feedback=TRAINING_FEEDBACK,
        section="rating",
        **({"beside": real, "beside_system": REAL} if template == "B" else {}),
    )
