import json

import cv2
import numpy as np
import pytest
import torch

from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.augment import TrainingCorruption
from modelzoo.avrelscore.decoding import beam_search, greedy_ctc
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.avrelscore.train import (
    CheckpointMismatchError,
    TrainConfig,
    collate,
    length_stages,
    main,
    noam_lr,
    train,
    train_curriculum,
    warm_start,
)
from modelzoo.media.io import write_wav

from .conftest import tiny_config
from .test_data import _lrs_clip, pairs  # noqa: F401  (a fixture)


class TinyClips(torch.utils.data.Dataset):
    """(video, waveform, text) samples of random crops and noise, 4-6 frames long."""

    def __init__(self, n=2):
        g = torch.Generator().manual_seed(0)
        self.items = [
            (torch.randn(4 + i, 88, 88, generator=g), torch.randn((4 + i) * 640 - 100), text)
            for i, text in zip(range(n), ["AB", "a b"] * n, strict=False)
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_collate_pads_frames_aligns_audio_to_video_and_pads_targets():
    batch = collate([TinyClips(2)[0], TinyClips(2)[1]])
    assert batch.video.shape == (2, 5, 1, 88, 88)
    assert batch.audio.shape == (2, 5 * 640)
    assert batch.lengths.tolist() == [4, 5]
    assert batch.video[0, 4].abs().sum() == 0  # padded frame
    assert batch.audio[0, 4 * 640 - 100 :].abs().sum() == 0  # short waveform zero-padded
    a, b = vocab.CHARS.index("A"), vocab.CHARS.index("B")
    assert batch.targets.tolist() == [[a, b, vocab.IGNORE], [a, vocab.SPACE, b]]


def test_noam_schedule_peaks_at_the_end_of_warmup():
    peak = noam_lr(25_000, 256, 25_000)
    assert peak == pytest.approx(3.95e-4, rel=1e-2)
    assert noam_lr(12_500, 256, 25_000) < peak > noam_lr(50_000, 256, 25_000)


def test_one_cpu_training_step_writes_a_checkpoint_and_a_hub_folder(tmp_path):
    torch.manual_seed(0)
    model = AVRelScore(tiny_config())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(steps=1, batch_size=2, eval_every=1)
    logs = train(model, TinyClips(), tmp_path, config=config, val_set=TinyClips())
    assert torch.isfinite(torch.tensor(logs["loss"])) and 0 <= logs["val_wer"]
    assert not torch.equal(model.state_dict()["embed.weight"], before["embed.weight"])
    assert torch.load(tmp_path / "last.pt", weights_only=False)["step"] == 1
    assert json.loads((tmp_path / "best" / "config.json").read_text())["d_model"] == 16
    AVRelScore.from_pretrained(tmp_path / "best", strict=True)


def test_training_resumes_from_the_last_checkpoint(tmp_path):
    torch.manual_seed(0)
    train(AVRelScore(tiny_config()), TinyClips(), tmp_path, config=TrainConfig(steps=1))
    steps = []
    model = AVRelScore(tiny_config())
    config = TrainConfig(steps=2, batch_size=2)
    train(
        model, TinyClips(), tmp_path, config=config, progress=lambda step, logs: steps.append(step)
    )
    assert steps == [2]
    assert torch.load(tmp_path / "last.pt", weights_only=False)["step"] == 2


def test_resuming_with_another_config_is_refused(tmp_path):
    train(AVRelScore(tiny_config()), TinyClips(), tmp_path, config=TrainConfig(steps=1))
    with pytest.raises(CheckpointMismatchError, match="last.pt"):
        train(
            AVRelScore(tiny_config(d_model=32)), TinyClips(), tmp_path, config=TrainConfig(steps=2)
        )


def test_a_few_hundred_steps_on_tiny_data_lower_the_loss_and_decode_over_the_vocabulary(
    tmp_path, one_thread
):
    torch.manual_seed(0)
    model = AVRelScore(tiny_config())
    losses = []
    # The reference's Noam factor 1 with a short warmup: a factor of 5 (peak lr 0.18) made the
    # run chaotic, so that where it ended depended on the processor's rounding.
    config = TrainConfig(steps=200, batch_size=2, warmup=50, lr_factor=1.0, eval_every=10**6)
    train(
        model,
        TinyClips(2),
        tmp_path,
        config=config,
        progress=lambda s, logs: losses.append(logs["loss"]),
    )
    assert len(losses) == 200
    first, last = sum(losses[:10]) / 10, sum(losses[-20:]) / 20
    assert last < 0.25 * first, (first, last)
    batch = collate([TinyClips(2)[0], TinyClips(2)[1]])
    model.eval()
    with torch.no_grad():
        encoded = model.encode(batch.video, batch.audio, batch.lengths)
        greedy = [vocab.decode(t) for t in greedy_ctc(model.ctc_log_probs(encoded), batch.lengths)]
    beam = [h.text for h in beam_search(model, encoded, beam=4, ctc_weight=0.3)]
    alphabet = set("'0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ?")
    for text in greedy + beam:
        assert isinstance(text, str) and set(text) <= alphabet
    assert any(beam)  # the trained decoder says something


def test_length_stages_are_cumulative_and_skip_empty_bounds():
    frames = [90, 120, 500, 80, 140]
    assert length_stages(frames) == [[0, 3], [0, 1, 3, 4], [0, 1, 2, 3, 4]]


def test_curriculum_runs_its_stages_in_order_and_resumes_where_it_stopped(tmp_path):
    torch.manual_seed(0)
    model = AVRelScore(tiny_config())
    seen = []

    def progress(step, logs):
        seen.append((step, logs["lr"]))

    stages = [(TinyClips(2), 2), (TinyClips(3), 1)]
    train_curriculum(model, stages, tmp_path, config=TrainConfig(warmup=10), progress=progress)
    assert [step for step, _ in seen] == [1, 2, 3]
    assert seen[2][1] == pytest.approx(noam_lr(3, 16, 10))  # the schedule runs on across stages
    seen.clear()
    longer = [*stages, (TinyClips(3), 2)]
    train_curriculum(AVRelScore(tiny_config()), longer, tmp_path, config=TrainConfig(warmup=10),
                     progress=progress)  # fmt: skip
    assert [step for step, _ in seen] == [4, 5]


def test_the_training_script_runs_the_lrs_curriculum_and_resumes(tmp_path, capsys):
    root = tmp_path / "LRS2"
    _lrs_clip(root, "pretrain/a/00001", 6, "HI")
    _lrs_clip(root, "pretrain/b/00001", 9, "HO")
    _lrs_clip(root, "main/c/00001", 5, "HA")
    (root / "0_100.txt").write_text("pretrain/a/00001\n")
    (root / "0_150.txt").write_text("pretrain/a/00001\npretrain/b/00001\n")
    (root / "val.txt").write_text("c/00001\n")
    (tmp_path / "tiny.json").write_text(json.dumps(tiny_config().__dict__))
    args = [
        "--lrs",
        root,
        "--corpus",
        "LRS2",
        "--val-list",
        root / "val.txt",
        "--out",
        tmp_path / "run",
        "--config",
        tmp_path / "tiny.json",
        "--epochs-per-stage",
        "1",
        "--batch-size",
        "1",
        "--warmup",
        "10",
        "--eval-every",
        "2",
        "--device",
        "cpu",
    ]
    assert main([str(a) for a in args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["updates"] == 3 and "val_wer" in report  # 1 + 2 clips, one epoch each
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3
    AVRelScore.from_pretrained(tmp_path / "run" / "best", strict=True)
    assert main([str(a) for a in args]) == 0  # finished: a rerun trains no further
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 3


def test_the_training_script_corrupts_training_clips_only_with_corrupt(
    tmp_path,
    pairs,  # noqa: F811
    one_thread,
    monkeypatch,
    capsys,
):
    write_wav(tmp_path / "noise.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    occluder = np.zeros((20, 20, 4), np.uint8)
    occluder[4:16, 4:16] = 255  # a white square with an opaque alpha
    (tmp_path / "occluders").mkdir()
    cv2.imwrite(str(tmp_path / "occluders" / "square.png"), occluder)
    corrupted = []
    real = TrainingCorruption.corrupt_video

    def counting(self, crops, landmarks, rng):
        corrupted.append((self.occluders, self.noise_file, landmarks is not None))
        return real(self, crops, landmarks, rng)

    monkeypatch.setattr(TrainingCorruption, "corrupt_video", counting)
    (tmp_path / "tiny.json").write_text(json.dumps(tiny_config().__dict__))
    args = ["--folder", pairs, "--val-folder", pairs, "--out", tmp_path / "run",
            "--config", tmp_path / "tiny.json", "--epochs-per-stage", "1", "--batch-size", "1",
            "--device", "cpu", "--corrupt", "--occluders", tmp_path / "occluders",
            "--noise-file", tmp_path / "noise.wav"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    # one training clip, one epoch: the validation pass over the same folder is not corrupted
    assert corrupted == [(tmp_path / "occluders", tmp_path / "noise.wav", True)]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args if a != "--corrupt"])
    assert stop.value.code == 2 and "only apply with --corrupt" in capsys.readouterr().err


def test_warm_start_copies_the_tensors_a_variant_shares_and_leaves_the_rest():
    torch.manual_seed(0)
    source = AVRelScore(tiny_config(variant="av_concat"))
    torch.manual_seed(1)
    target = AVRelScore(tiny_config())
    untouched = {k: v.clone() for k, v in target.state_dict().items()}
    copied = warm_start(target, source)
    state, source_state = target.state_dict(), source.state_dict()
    assert all(torch.equal(state[name], source_state[name]) for name in copied)
    assert not torch.equal(state["embed.weight"], untouched["embed.weight"])
    kept = set(state) - set(copied)  # the reliability scorers the concat baseline lacks
    assert kept and all(name.startswith(("video_scorer", "audio_scorer")) for name in kept)
    assert all(torch.equal(state[name], untouched[name]) for name in kept)
    audio_only = warm_start(AVRelScore(tiny_config(variant="audio_only")), source)
    assert not any(name.startswith("video_") for name in audio_only)
    frontend = warm_start(AVRelScore(tiny_config()), source, prefix="audio_frontend.")
    assert frontend and all(name.startswith("audio_frontend.") for name in frontend)
    assert "audio_frontend.conv1.weight" in frontend


def test_reliability_loss_teaches_the_scores_which_frames_were_corrupted():
    """Blanked frames labelled corrupted: after a few dozen updates their mean channel score is
    below the clean frames', and without the weight no reliability loss is computed."""
    torch.manual_seed(0)
    model = AVRelScore(tiny_config(reliability_weight=1.0))
    video, audio = torch.randn(4, 8, 1, 88, 88), torch.randn(4, 8 * 640)
    lost = torch.zeros(4, 8, dtype=torch.bool)
    lost[:, 4:] = True
    video[lost] = 0.0  # the second half of every clip's video is blank
    audio[:, 4 * 640 :] = 0.0  # and so is the audio's
    corrupted, lengths = {"video": lost, "audio": lost}, torch.full((4,), 8)
    targets = torch.tensor([[5, 6, 7]] * 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model(video, audio, lengths, targets, corrupted).reliability_loss.item()
    for _ in range(40):
        out = model(video, audio, lengths, targets, corrupted)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert out.reliability_loss.item() < 0.5 * first
    model.eval()
    encoded = model.encode(video, audio, lengths)
    for scores in (encoded.video_scores.mean(-1), encoded.audio_scores.mean(-1)):
        assert scores[:, :4].min() > scores[:, 4:].max()
    plain = AVRelScore(tiny_config())
    assert plain(video, audio, lengths, targets, corrupted).reliability_loss is None
