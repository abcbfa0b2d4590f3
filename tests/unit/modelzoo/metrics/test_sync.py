"""LSE-C, LSE-D and offset: the offset search on known embeddings, and the zoo judge on a real
SynthGrid clip whose audio is delayed."""

import contextlib
import io

import numpy as np
import pytest

from modelzoo.evaluation.judges import delayed
from modelzoo.media.mel import melspectrogram
from modelzoo.metrics import sync
from modelzoo.metrics.clip import ClipMedia, face_crops_of


def unit_rows(count: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).random((count, 16))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("delay", [0, 2, 7])
def test_audio_delayed_by_k_windows_gives_offset_minus_k(delay):
    features = unit_rows(60)
    video = features
    # audio window i + delay holds what video window i shows
    audio = np.concatenate([unit_rows(delay, seed=9), features])[:60]
    score = sync.sync_score(video, audio)
    assert score.offset == -delay
    assert score.lse_d == pytest.approx(0.0, abs=1e-6)
    assert score.lse_c > 0.1


def test_median_minus_minimum_is_the_confidence():
    score = sync.sync_score(unit_rows(40), unit_rows(40, seed=1))
    assert score.lse_c == pytest.approx(np.median(score.mean_distances) - score.lse_d)
    assert len(score.mean_distances) == 2 * sync.VSHIFT + 1


def test_too_short_a_clip_gets_no_score():
    assert sync.sync_score(unit_rows(sync.VSHIFT), unit_rows(sync.VSHIFT)) is None


@pytest.fixture(scope="module")
def judge():
    from modelzoo import load

    with contextlib.redirect_stdout(io.StringIO()):
        return load("syncnet-demo")


def test_delaying_a_synthgrid_clips_audio_moves_the_offset_and_raises_lse_d(synthgrid, judge):
    root, names = synthgrid
    clip = ClipMedia.read(root / f"{names[0]}.mp4")
    crops = face_crops_of(clip, clip.track, judge.config.img_size)
    scores = {}
    for k in (0, 4):
        mel = melspectrogram(delayed(clip.audio, k))
        scores[k] = sync.sync_score(*sync.embeddings(judge, crops, mel))
    assert abs((scores[4].offset - scores[0].offset) - (-4)) <= 1
    assert scores[4].lse_d > scores[0].lse_d
