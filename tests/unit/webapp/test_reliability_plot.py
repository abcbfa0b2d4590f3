"""The Transcribe tab's reliability plot: a panel per scored stream, corrupted stretches shaded."""

import numpy as np
from PIL import Image

from webapp.demo.reliability import reliability_figure

FPS = 25


def _result(frames: int, streams=("audio", "video")) -> dict:
    rng = np.random.default_rng(0)
    change = {s: (0.1 + 0.01 * rng.standard_normal(frames)).tolist() for s in streams}
    return {"fps": FPS, "reliability_change": change}


def _reddish_columns(path) -> np.ndarray:
    """(W,) bool: image columns where the shading shows: matplotlib's tab:red at 15 % on white."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    shade = np.abs(pixels - np.array([248, 222, 222])).max(axis=-1) <= 6
    return shade.sum(axis=0) > 20


def test_a_plain_transcript_gets_a_panel_per_stream_and_no_shading(tmp_path):
    path = reliability_figure(_result(100), None, tmp_path / "plot.png")
    assert (
        Image.open(path).size[1]
        > Image.open(reliability_figure(_result(100, ("audio",)), None, tmp_path / "one.png")).size[
            1
        ]
    )
    assert not _reddish_columns(path).any()


def test_corrupted_stretches_are_shaded_where_they_are(tmp_path):
    corruption = {"fps": FPS, "video_frames": [[50, 100]], "audio_stretches_s": [],
                  "video": {"kind": "occlusion", "fraction": 0.25}, "audio": None}  # fmt: skip
    path = reliability_figure(_result(200), corruption, tmp_path / "plot.png")
    shaded = np.flatnonzero(_reddish_columns(path))
    width = Image.open(path).size[0]
    # Frames 50-100 of 200 are the second quarter of the time axis, which spans most of the width.
    assert shaded.size and width * 0.2 < shaded.min() < shaded.max() < width * 0.6


def test_a_model_without_reliability_scores_gets_no_plot(tmp_path):
    result = {"fps": FPS, "reliability_change": {"audio": None, "video": None}}
    assert reliability_figure(result, None, tmp_path / "plot.png") is None
