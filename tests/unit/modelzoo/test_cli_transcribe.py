"""`python -m modelzoo transcribe`: the Transcription JSON on stdout, one-line errors."""

import json
import os
import subprocess
import sys

import pytest
import torch

from modelzoo.__main__ import main
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.syncnet.model import SyncNet, SyncNetConfig
from modelzoo.zoo.loading import save

from .avrelscore.conftest import tiny_config
from .synthetic_media import speech
from .test_cli import ROOT


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-avrelscore")
    return save(AVRelScore(tiny_config()), folder, architecture="avrelscore")


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return speech(tmp_path_factory.mktemp("speech") / "speech.wav")


def test_transcribe_prints_only_the_transcription_json(model_folder, wav):
    args = ["transcribe", "--model", model_folder, wav, "--decoder", "beam", "--beam-size", "3"]
    result = subprocess.run(
        [sys.executable, "-m", "modelzoo", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # nothing else on stdout, e.g. the Hub mixin's loading line
    assert out["mode"] == "audio-only" and "no video in speech.wav" in out["notice"]
    assert out["decoder"] == {"name": "beam", "beam_size": 3, "ctc_weight": 0.1}
    assert len(out["reliability"]["audio"]) == out["frames"] > 0
    assert set(out["text"]) <= set("'0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ?")


def _error(capsys, *args) -> str:
    """The one-line message of a CLI run that must fail with exit status 2."""
    assert main([str(a) for a in args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip().splitlines()[-1]  # the Hub mixin's loading line may come first


def test_a_beam_size_out_of_range_is_a_one_line_error(capsys, model_folder, wav):
    err = _error(capsys, "transcribe", "--model", model_folder, wav, "--beam-size", "0")
    assert "'beam_size' must be an integer from 1 to 64" in err


def test_a_missing_media_file_is_a_one_line_error(capsys, model_folder, tmp_path):
    err = _error(capsys, "transcribe", "--model", model_folder, tmp_path / "nothing.mp4")
    assert "nothing.mp4: file not found" in err


def test_a_model_of_another_kind_is_refused(capsys, wav, tmp_path):
    folder = save(SyncNet(SyncNetConfig(width=16)), tmp_path, architecture="syncnet")
    err = _error(capsys, "transcribe", "--model", folder, wav)
    assert "is not a speech recognition (avrelscore) model" in err
