"""Tiny synthetic talking-face clips for the critic and generator tests: a grey face whose mouth
opens with the loudness that the mel's low bands also carry, so sync is learnable."""

from contextlib import contextmanager

import numpy as np
import torch

from modelzoo.alm.data import ArrayClip
from modelzoo.media.mel import mel_start


def talking_clip(num_frames: int = 24, size: int = 128, seed: int = 0) -> ArrayClip:
    rng = np.random.default_rng(seed)
    loudness = rng.uniform(0, 1, num_frames)
    frames = np.full((num_frames, size, size, 3), 120, np.uint8)
    frames[:, size // 4 : size // 2, size // 4 : 3 * size // 4] = 90  # eyes band
    for i, level in enumerate(loudness):
        half = 2 + int(level * size / 8)
        frames[i, 3 * size // 4 - half : 3 * size // 4 + half, size // 3 : 2 * size // 3] = 20
    steps = mel_start(num_frames) + 16
    mel = np.full((80, steps), -4.0, np.float32)
    for step in range(steps):
        frame = min(int(step * 25 / 80), num_frames - 1)
        mel[:20, step] = 8 * loudness[frame] - 4
    return ArrayClip(frames, mel, name=f"synthetic-{seed}")


@contextmanager
def one_thread():
    """Run tiny training loops on one thread: on the shared 2-core machine, a second OpenMP
    thread mostly spin-waits and makes these small convolutions several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
