"""LRS2/LRS3 in the authors' layout and folders of (video, transcript) pairs as training data."""

import numpy as np
import pytest
import torch

from modelzoo.avrelscore import data
from modelzoo.avrelscore.data import LRSClips, PairFolder, read_split, read_transcript
from modelzoo.avrelscore.train import collate
from modelzoo.errors import UserError
from modelzoo.media.io import VideoWriter, write_wav

from ..media.face_media import moving_clip
from ..synthetic_media import speech


def _mouth_video(path, frames: int, size: int = 96):
    """A grey video whose frame i has brightness 10 * i, so frames can be told apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, size, size) as writer:
        for i in range(frames):
            writer.write(np.full((size, size, 3), 10 * i, np.uint8))


def _lrs_clip(root, clip_id: str, frames: int, text: str, size: int = 96):
    _mouth_video(root / "Video" / f"{clip_id}.mp4", frames, size)
    (root / "Audio" / clip_id).parent.mkdir(parents=True, exist_ok=True)
    write_wav(
        root / "Audio" / f"{clip_id}.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000
    )
    (root / "Text" / clip_id).parent.mkdir(parents=True, exist_ok=True)
    (root / "Text" / f"{clip_id}.txt").write_text(f"Text:  {text}\nConf:  4\n")


@pytest.fixture
def lrs(tmp_path):
    root = tmp_path / "LRS3"
    _lrs_clip(root, "pretrain/abc/00001", 12, "HELLO WORLD")
    _lrs_clip(root, "trainval/xyz/50001", 8, "GOOD DAY")
    (tmp_path / "0_100.txt").write_text("pretrain/abc/00001 12\n\n")
    (tmp_path / "val.txt").write_text("xyz/50001\n")
    return root, tmp_path


def test_split_files_give_the_first_word_of_each_line(tmp_path):
    (tmp_path / "list.txt").write_text("pretrain/a/00001 57\nmain/b/00002\n\n")
    assert read_split(tmp_path / "list.txt") == ["pretrain/a/00001", "main/b/00002"]


def test_transcripts_are_read_from_lrs_and_plain_files(tmp_path):
    (tmp_path / "lrs.txt").write_text("Text:  THE CAT SAT\nConf:  3\n\nWORD START END\n")
    (tmp_path / "plain.txt").write_text("the cat sat\n")
    assert read_transcript(tmp_path / "lrs.txt") == "THE CAT SAT"
    assert read_transcript(tmp_path / "plain.txt") == "the cat sat"


def test_lrs_clips_give_centre_crops_aligned_audio_and_the_transcript(lrs):
    root, lists = lrs
    clips = LRSClips(root, lists / "0_100.txt")
    video, audio, text = clips[0]
    assert video.shape == (12, 1, 88, 88) and audio.shape == (12 * 640,)
    assert text == "HELLO WORLD"
    brightness = video[:, 0].mean((1, 2)) * 0.165 + 0.421  # undo the normalisation
    assert torch.allclose(brightness * 255, torch.arange(12.0) * 10, atol=3)
    assert abs(float(audio.mean())) < 1e-4 and float(audio.std()) == pytest.approx(1.0, abs=1e-3)


def test_lrs_validation_lists_name_clips_inside_trainval_and_cut_long_videos(lrs):
    root, lists = lrs
    clips = LRSClips(root, lists / "val.txt", validation=True, max_frames=5)
    video, audio, text = clips[0]
    assert text == "GOOD DAY" and video.shape[0] == 5 and audio.shape == (5 * 640,)
    batch = collate([clips[0], LRSClips(root, lists / "0_100.txt")[0]])
    assert batch.lengths.tolist() == [5, 12]


def test_lrs_training_crops_are_random_88_windows(lrs):
    root, lists = lrs
    clips = LRSClips(root, lists / "0_100.txt", train=True, seed=3)
    assert clips[0][0].shape == (12, 1, 88, 88)


def test_a_wrong_lrs_root_or_frame_size_is_a_user_error(lrs, tmp_path):
    root, lists = lrs
    with pytest.raises(UserError, match="Video/pretrain/abc/00001.mp4 not found"):
        LRSClips(tmp_path / "elsewhere", lists / "0_100.txt")
    _lrs_clip(root, "pretrain/big/00001", 3, "HI", size=160)
    (lists / "big.txt").write_text("pretrain/big/00001\n")
    with pytest.raises(UserError, match="160x160"):
        LRSClips(root, lists / "big.txt")[0]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    frames, _ = moving_clip(15)
    (root / "talk").mkdir()
    with VideoWriter(root / "talk" / "one.mp4", 320, 240, audio=speech(root / "s.wav")) as w:
        w.write(frames)
    (root / "talk" / "one.txt").write_text("Text:  BRING A TORCH\n")
    (root / "talk" / "no_transcript.mp4").write_bytes((root / "talk" / "one.mp4").read_bytes())
    return root


def test_a_folder_of_pairs_gives_tracked_mouth_crops_cached_once(pairs, monkeypatch):
    clips = PairFolder(pairs)
    assert len(clips) == 1  # the video without a transcript is not a pair
    video, audio, text = clips[0]
    assert video.shape == (15, 1, 88, 88) and audio.shape == (15 * 640,)
    assert text == "BRING A TORCH" and clips.frame_counts() == [15]
    assert len(list((pairs / ".avrelscore-cache").glob("*.npz"))) == 1

    def no_tracking(path):
        raise AssertionError("the cached crops should have been used")

    monkeypatch.setattr(data, "mouth_crops_video", no_tracking)
    again = PairFolder(pairs)[0]
    assert torch.equal(again[0], video) and torch.equal(again[1], audio)


def test_a_folder_without_pairs_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no video with a transcript"):
        PairFolder(tmp_path)
