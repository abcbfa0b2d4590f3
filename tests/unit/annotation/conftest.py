"""Fixtures of the annotation tests: media in a temporary folder, a test clip, a small study."""

import subprocess

import pytest

from annotation import services


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
