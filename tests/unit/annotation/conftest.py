"""Fixtures of the annotation tests: tiny studies, test clips and ratings loaded as long CSV."""

import csv
import io
import subprocess

import pytest

from annotation import imports, services


@pytest.fixture(autouse=True)
def annotation_media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A 1 s MP4 with a test pattern and a tone, made with ffmpeg's lavfi sources."""
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-metadata",
            "title=system-secret",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def acr_study(db):
    return services.study_create(
        slug="acr",
        title="ACR",
        questions=[
            {"key": "realness", "prompt": "Real?"},
            {"key": "lipsync", "prompt": "In sync?"},
        ],
        stimuli_per_session=4,
        votes_per_stimulus=2,
    )


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
    return imports.import_long_csv(study=study, text=out.getvalue())
