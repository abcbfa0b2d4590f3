"""`python -m modelzoo`: probe and corrupt print JSON; bad input exits non-zero with one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelzoo

from .synthetic_media import speech, video

# The repository root, so that `-m modelzoo` resolves from any working folder.
ROOT = str(Path(modelzoo.__file__).resolve().parents[1])


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "modelzoo", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": ROOT},
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return video(root / "clip.mp4", size="64x48", seconds=1.0, audio=speech(root / "s.wav"))


def test_probe_prints_the_media_info_as_json(clip):
    result = _cli("probe", clip)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["has_video"] and info["has_audio"]
    assert (info["width"], info["height"], info["fps"]) == (64, 48, 25.0)


def test_corrupt_writes_the_output_file_and_prints_json(clip, tmp_path):
    out = tmp_path / "sub" / "noisy.mp4"
    params = '{"audio": {"noise": "white", "snr_db": 10}, "seed": 2}'
    result = _cli("corrupt", clip, "--params", params, "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["output"] == str(out) and out.stat().st_size > 0
    assert report["params"]["audio"] == {"noise": "white", "snr_db": 10.0, "partial": False}
    assert [p.name for p in out.parent.iterdir()] == ["noisy.mp4"]  # no temp folder left


def test_corrupt_reads_params_from_a_file_given_with_at(clip, tmp_path):
    (tmp_path / "p.json").write_text('{"video": {"kind": "blur", "fraction": 1}}')
    result = _cli(
        "corrupt", clip, "--params", f"@{tmp_path / 'p.json'}", "--out", tmp_path / "o.mp4"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["probe", "missing.mp4"], "missing.mp4: file not found"),
        (
            ["corrupt", "CLIP", "--params", '{"audio": {"noise": "red"}}', "--out", "o.mp4"],
            "audio.noise",
        ),
        (["corrupt", "CLIP", "--params", '{"video": {"kind": "blur"}}', "--out", "o.wav"], ".mp4"),
        (["corrupt", "CLIP", "--params", "{oops", "--out", "o.mp4"], "not valid JSON"),
        (
            ["corrupt", "CLIP", "--params", '{"video": {"kind": "occlusion"}}', "--out", "o.mp4"]
            + ["--occluders", "nowhere"],
            "occluders: nowhere is not a folder",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(clip, tmp_path, args, words):
    result = _cli(*[clip if a == "CLIP" else a for a in args], cwd=tmp_path)
    assert result.returncode != 0
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "o.mp4").exists()
