"""Export gates: the AUC on known rankings, and generators that copy, ignore audio or follow it."""

import json

import numpy as np
import pytest
import torch

from modelzoo.alm.data import ArrayClip, TalkingFaceDataset
from modelzoo.synthgrid import gates


@pytest.fixture
def val_set():
    rng = np.random.default_rng(0)
    clips = [
        ArrayClip(rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8), rng.normal(size=(80, 100)))
        for _ in range(3)
    ]
    return TalkingFaceDataset(clips, "generator", 10**6, seed=1)


def run(generate, val_set):
    return gates.generator_gate(generate, val_set, ["mels"], batches=2, batch_size=4)


def test_copying_the_reference_fails(val_set):
    gate = run(lambda b: b["faces"][:, 3:], val_set)
    assert gate.mouth_l1 == pytest.approx(gate.copy_l1)
    assert gate.audio_effect == 0.0 and not gate.passed


def test_a_perfect_mouth_that_ignores_audio_fails(val_set):
    gate = run(lambda b: b["target"], val_set)
    assert gate.mouth_l1 == 0.0 < gate.copy_l1
    assert not gate.passed


def test_a_mouth_that_follows_the_audio_passes(val_set):
    def generate(batch):
        # The target's mouth plus a shade set by the window's audio.
        shade = batch["mels"][:, 0, 0, 0, 0, None, None, None, None]
        return (batch["target"] + 0.2 * torch.tanh(shade)).clamp(-1, 1)

    gate = run(generate, val_set)
    assert gate.mouth_l1 < gate.copy_l1
    assert gate.audio_effect >= gates.MIN_AUDIO_EFFECT and gate.passed
    assert json.loads(json.dumps(gate.figures()))["passed"] is True  # written to training.json
