"""`python -m modelzoo generate`: a saved model folder, a photo and text in; the MP4 and a JSON
report out, with nothing else on stdout; bad input exits 2 with a one-line message."""

import json

import pytest
from PIL import Image
from skimage import data

from modelzoo.alm.model import ALMConfig, AudioLipMemoryModel
from modelzoo.zoo.loading import save

from .test_cli import _cli


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-generate")
    save(AudioLipMemoryModel(ALMConfig(width=32, num_slots=8)), root / "model", architecture="alm")
    Image.fromarray(data.astronaut()).save(root / "face.png")
    Image.fromarray(data.coffee()).save(root / "coffee.png")
    return root


def test_generate_writes_the_mp4_and_prints_only_json(inputs, tmp_path):
    out = tmp_path / "talk.mp4"
    result = _cli(
        "generate", "--model", inputs / "model", "--face", inputs / "face.png",
        "--text", "Good morning.", "--voice", "en-gb", "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["output"] == str(out) and out.stat().st_size > 0
    assert report["frames"] == round(report["duration"] * 25)
    assert 0.4 < report["duration"] < 3 and report["seconds"] > 0


def test_generate_without_a_face_exits_2_with_one_line(inputs, tmp_path):
    result = _cli(
        "generate", "--model", inputs / "model", "--face", inputs / "coffee.png",
        "--text", "Good morning.", "--out", tmp_path / "o.mp4",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no face found")
    assert result.stdout == "" and not (tmp_path / "o.mp4").exists()


def test_generate_refuses_an_output_that_is_not_mp4(inputs, tmp_path):
    result = _cli(
        "generate", "--model", inputs / "model", "--face", inputs / "face.png",
        "--text", "Hi.", "--out", tmp_path / "o.avi",
    )  # fmt: skip
    assert result.returncode == 2 and "must be an .mp4 file" in result.stderr
