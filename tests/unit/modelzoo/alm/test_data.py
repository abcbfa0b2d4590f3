import numpy as np
import pytest
from PIL import Image

from modelzoo.alm.data import (
    ArrayClip,
    ClipDataError,
    TalkingFaceDataset,
    context_mels,
    folder_clips,
    generator_window,
)
from modelzoo.media.io import write_wav
from modelzoo.media.mel import mel_start
from tests.unit.modelzoo.talking_clips import talking_clip


def ramp_clip(num_frames=24):
    steps = mel_start(num_frames) + 16
    mel = np.tile(np.arange(steps, dtype=np.float32), (80, 1))  # each column holds its index
    return ArrayClip(np.zeros((num_frames, 128, 128, 3), np.uint8), mel)


def test_sync_mel_of_a_window_starts_at_80_t_over_25():
    sample = generator_window(ramp_clip(), t=7, ref=0)
    assert sample["sync_mel"][0, 0].tolist() == list(range(mel_start(7), mel_start(7) + 16))


def test_per_frame_mels_start_one_frame_before_each_target():
    sample = generator_window(ramp_clip(), t=4, ref=12)
    assert [int(m[0, 0, 0]) for m in sample["mels"]] == [mel_start(k - 1) for k in range(4, 9)]


def test_context_token_of_frame_k_is_its_per_frame_window():
    mels, valid = context_mels(ramp_clip(), first=3, count=4)
    assert valid.all()
    assert [int(m[0, 0, 0]) for m in mels] == [mel_start(k - 1) for k in range(3, 7)]


def test_generator_window_masks_targets_lower_half_and_lips_upper_half():
    clip = talking_clip()
    sample = generator_window(clip, t=4, ref=12)
    assert sample["faces"].shape == (6, 5, 128, 128)
    assert sample["faces"][:3, :, 64:].abs().sum() == 0
    assert sample["faces"][:3, :, :64].abs().sum() > 0
    assert sample["lips"].shape == (5, 3, 5, 128, 128)
    assert sample["lips"][..., :64, :].abs().sum() == 0
    assert sample["sync_mel"].shape == (1, 80, 16) and sample["mels"].shape == (5, 1, 80, 16)


def test_lip_window_j_is_centred_on_target_frame_j():
    clip = talking_clip()
    sample = generator_window(clip, t=4, ref=12)
    for j in range(5):
        centre = sample["lips"][j, :, 2, 64:]
        np.testing.assert_allclose(centre.numpy(), sample["target"][:, j, 64:].numpy())


def test_context_tokens_off_the_clip_are_zero_and_marked_invalid():
    clip = talking_clip(num_frames=10)
    mels, valid = context_mels(clip, first=-3, count=8)
    assert valid.tolist() == [False] * 4 + [True] * 4  # frame 0 needs the window at frame -1
    assert mels[~valid].abs().sum() == 0


def test_same_index_and_seed_give_the_same_window():
    dataset = TalkingFaceDataset([talking_clip(seed=s) for s in range(3)], "generator", 10)
    np.testing.assert_array_equal(dataset[7]["target"].numpy(), dataset[7]["target"].numpy())
    assert not np.array_equal(dataset[7]["target"].numpy(), dataset[8]["target"].numpy())


def test_folder_dataset_reads_wav2lip_layout_with_filelists(tmp_path):
    clip = talking_clip(num_frames=16, size=64)
    folder = tmp_path / "main" / "spk1_00001"
    folder.mkdir(parents=True)
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(folder / f"{i}.jpg", quality=95)
    np.save(folder / "mel.npy", clip.mel)
    (tmp_path / "filelists").mkdir()
    (tmp_path / "filelists" / "train.txt").write_text("main/spk1_00001\n")
    [loaded] = folder_clips(tmp_path, "train", img_size=128)
    assert loaded.num_frames == 16
    assert loaded.read([3]).shape == (1, 128, 128, 3)
    assert loaded.mel.shape == clip.mel.shape


def test_folder_clip_computes_the_wav2lip_mel_from_audio_wav(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.jpg")
    t = np.arange(8000) / 8000
    write_wav(folder / "audio.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 8000)  # resampled to 16 kHz
    [clip] = folder_clips(tmp_path)
    assert clip.mel.shape == (80, 81)  # 1 s at 80 mel steps per second


def test_clip_without_audio_or_mel_is_a_user_error_naming_the_folder(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.jpg")
    [clip] = folder_clips(tmp_path)
    with pytest.raises(ClipDataError, match=str(folder)):
        _ = clip.mel
