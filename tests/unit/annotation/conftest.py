"""Fixtures of the annotation tests: media in a temporary folder, a test clip, a small study."""

import subprocess

import pytest

from annotation import services
from tests.conftest import make_clip


@pytest.fixture(autouse=True)
def annotation_media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A 1 s MP4 with a test pattern and a tone, made with ffmpeg's lavfi sources."""
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    # The title tag stands for metadata a stored stimulus must not leak to raters.
    return make_clip(
        path, seconds=1, size="64x48", fps=10, extra=["-metadata", "title=system-secret"]
    )


def streams_and_tags(path) -> str:
    """ffprobe's stream types and container tags of a stored stimulus, one `key=value` a line."""
    return subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type:format_tags",
            "-of",
            "default=nw=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


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
