"""`evaluate` on a SynthGrid test split with the bundled weights: the report's shape, and the
properties a working metric must show on real clips whatever the models' quality."""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from modelzoo.__main__ import main
from modelzoo.evaluation import avsr, evaluate
from modelzoo.metrics.clip import ClipMedia

MODELS = ["alm-demo", "avrelscore-demo", "syncnet-demo"]


@pytest.fixture(scope="module")
def report(synthgrid, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    messages = []
    result = evaluate(MODELS, synthgrid[0], out, limit=1, progress=lambda f, m: messages.append(m))
    return out, result, messages


def rows_of(result, model):
    return {row["condition"]: row["metrics"] for row in result["rows"] if row["model"] == model}


def test_report_files_hold_the_rows_with_protocol_and_corpus_fingerprint(report):
    out, result, messages = report
    saved = json.loads((out / "report.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    assert saved["protocol"]["sync"]["judge"] == "syncnet-demo"
    assert saved["protocol"]["text"]["normalisation"] == "synclab-wer-1"
    assert len(saved["corpus"]["sha256"]) == 64 and saved["corpus"]["clips"] == 1
    assert {m["id"] for m in saved["models"]} == set(MODELS)
    assert all(m["revision"].startswith("bundled:") for m in saved["models"])
    markdown = (out / "report.md").read_text()
    assert "| alm-demo |" in markdown and "| avrelscore-demo | babble_-5db |" in markdown
    assert any("generation clip 1/1" in m for m in messages)


def test_plots_are_png_images(report):
    out = report[0]
    for name in ("wer_vs_snr.png", "reliability.png", "frame_strip.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_generation_rows_put_static_between_real_and_nothing(report):
    result = report[1]
    systems = {row["model"]: row["metrics"] for row in result["rows"] if row["condition"] != ""}
    real, static = systems["real"], systems["static"]
    assert real["lmd"] == 0.0 and real["ssim"] == pytest.approx(1.0)
    assert static["lmd"] > real["lmd"]
    assert static["psnr"] < real["psnr"]
    for name in ("psnr", "ssim", "lse_d", "lip_wer"):
        assert systems["alm-demo"][name] is not None


def test_coarticulation_check_reads_the_phone_timings_of_synthgrid(report):
    result = report[1]
    systems = {row["model"]: row["metrics"] for row in result["rows"] if row["condition"] != ""}
    assert "coarticulation" in result["protocol"]
    real, static = systems["real"], systems["static"]
    assert real["coart_cells"] >= 2  # a phone of the clip in two contexts
    assert real["coart_spread"] > 0 and real["coart_corr"] == pytest.approx(1.0)
    assert static["coart_spread"] == pytest.approx(0.0, abs=1e-9) and static["coart_corr"] is None
    assert "coart_spread" in (report[0] / "report.md").read_text()


def test_real_clips_are_closer_in_sync_than_with_delayed_audio(report):
    (judged,) = rows_of(report[1], "syncnet-demo").values()
    assert judged["lse_d_real"] < judged["lse_d_shifted"]


def test_recogniser_has_a_row_per_condition_and_reliability(report):
    result = report[1]
    rows = rows_of(result, "avrelscore-demo")
    assert list(rows) == list(avsr.CONDITIONS)
    assert all(0.0 <= rows[c]["wer"] for c in rows)
    reliability = result["reliability"]["avrelscore-demo"]
    assert set(reliability) >= {"video_auroc", "audio_auroc"}
    assert reliability["video_frames"]["corrupted"] > 0


def test_recognition_is_also_broken_down_by_the_speech_engine_of_each_clip(report):
    out, result, _ = report
    engines = result["recognition_by_engine"]["avrelscore-demo"]
    rows = rows_of(result, "avrelscore-demo")
    assert len(engines) == 1  # the one clip's engine, with every condition's WER as in the rows
    (wer,) = engines.values()
    assert wer == {condition: rows[condition]["wer"] for condition in avsr.CONDITIONS}
    assert f"| avrelscore-demo | {next(iter(engines))} |" in (out / "report.md").read_text()


def test_corruption_is_reproducible_from_the_seed_and_its_mask_is_exact(synthgrid):
    root, names = synthgrid
    clip = ClipMedia.read(root / f"{names[0]}.mp4")
    for condition in ("video_noise", "both", "babble_5db"):
        first = avsr.corrupt(clip, condition, np.random.default_rng([0, 0, 1]))
        again = avsr.corrupt(clip, condition, np.random.default_rng([0, 0, 1]))
        assert np.array_equal(first.frames, again.frames)
        assert np.array_equal(first.audio, again.audio)
    noisy = avsr.corrupt(clip, "video_noise", np.random.default_rng(3))
    changed = (noisy.frames != clip.frames).any(axis=(1, 2, 3))
    assert noisy.video_mask.any() and np.array_equal(changed, noisy.video_mask)


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_score_prints_the_metrics_that_apply(synthgrid):
    root, names = synthgrid
    video = str(root / f"{names[0]}.mp4")
    code, out, _ = run_cli(["score", video, "--reference", video])
    scores = json.loads(out)
    assert code == 0 and scores["offset"] is not None and scores["lse_d"] > 0
    assert scores["lmd"] == 0.0 and "lip_wer" not in scores
    assert scores["protocol"]["sync"]["offset_window"] == 15


def test_evaluate_refuses_an_unknown_model_and_a_folder_without_file_lists(synthgrid, tmp_path):
    code, _, err = run_cli(
        ["evaluate", "--model", "nope", "--corpus", str(synthgrid[0]), "--out", str(tmp_path)]
    )
    assert code == 2 and "unknown model id 'nope'" in err
    code, _, err = run_cli(
        ["evaluate", "--model", "alm-demo", "--corpus", str(tmp_path), "--out", str(tmp_path)]
    )
    assert code == 2 and "filelists/test.txt" in err
