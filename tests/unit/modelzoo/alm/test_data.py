import numpy as np
import pytest
from PIL import Image

from modelzoo.alm.data import (
    ClipDataError,
    TalkingFaceDataset,
    context_mels,
    folder_clips,
    frame_mels,
    generator_window,
    mel_start,
    mel_window,
)
from tests.unit.modelzoo.talking_clips import talking_clip


def ramp_mel(steps=120):
    return np.tile(np.arange(steps, dtype=np.float32), (80, 1))  # each column holds its index


def test_mel_window_of_frame_f_starts_at_80_f_over_25_and_spans_16_steps():
    assert [mel_start(f) for f in (0, 1, 2, 3, 25)] == [0, 3, 6, 9, 80]
    assert mel_window(ramp_mel(), 2)[0].tolist() == list(range(6, 22))


def test_mel_window_running_off_either_end_is_none():
    assert mel_window(ramp_mel(), -1) is None
    assert mel_window(ramp_mel(40), 10) is None


def test_per_frame_windows_start_one_frame_before_each_target():
    mels = frame_mels(ramp_mel(), 4)
    assert mels.shape == (5, 80, 16)
    assert [int(m[0, 0]) for m in mels] == [mel_start(k - 1) for k in range(4, 9)]


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


def test_clip_without_audio_or_mel_is_a_user_error_naming_the_folder(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.jpg")
    [clip] = folder_clips(tmp_path)
    with pytest.raises(ClipDataError, match=str(folder)):
        _ = clip.mel
