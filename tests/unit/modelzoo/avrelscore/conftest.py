"""Tiny AV-RelScore configs and inputs shared by the avrelscore tests."""

import pytest
import torch

from modelzoo.avrelscore.model import AVRelScore, AVRelScoreConfig


def tiny_config(**changes) -> AVRelScoreConfig:
    sizes = dict(
        frontend_width=4,
        d_model=16,
        heads=2,
        encoder_layers=2,
        encoder_ffn=32,
        conv_kernel=5,
        decoder_layers=2,
        decoder_ffn=32,
    )
    return AVRelScoreConfig(**{**sizes, **changes})


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return AVRelScore(tiny_config()).eval()


@pytest.fixture
def inputs():
    """Two clips of 8 and 5 valid frames: video (2, 8, 1, 88, 88), audio (2, 8 * 640), lengths."""
    g = torch.Generator().manual_seed(1)
    video = torch.randn(2, 8, 1, 88, 88, generator=g)
    audio = torch.randn(2, 8 * 640, generator=g)
    return video, audio, torch.tensor([8, 5])


@pytest.fixture
def one_thread():
    """Torch on one thread: a tiny model's ops are too small to share, and on a busy machine
    waiting threads slow hundreds of training steps down many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
