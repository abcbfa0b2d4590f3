"""The training recipe's corruption (occluders, noise, blur, babble) in the training sets."""

import numpy as np
import pytest
import torch

from modelzoo.avrelscore import data
from modelzoo.avrelscore.augment import ModalityDropout, TrainingCorruption
from modelzoo.avrelscore.data import LRSClips, PairFolder, crop_landmarks
from modelzoo.corruption.audio import TRAIN_SNRS_DB
from modelzoo.errors import UserError
from modelzoo.media.crops import MOUTH_SIZE, mouth_crops_video
from modelzoo.media.io import write_wav

from .test_data import lrs, pairs  # noqa: F401  (fixtures)

MOUTH = slice(48, 68)


@pytest.fixture(scope="module")
def noise_file(tmp_path_factory):
    """A second of noise unlike speech, so that its share of a mixture can be measured."""
    path = tmp_path_factory.mktemp("noise") / "noise.wav"
    write_wav(path, np.random.default_rng(5).normal(0, 0.2, 16000), 16000)
    return path


def occluders_only(noise_file, **changes) -> TrainingCorruption:
    """Every clip occluded, no pixel noise or blur, no audio dropouts."""
    settings = dict(p_clean_video=0.0, p_noise=0.0, p_blur=0.0, p_audio_dropout=0.0)
    return TrainingCorruption(noise_file=noise_file, **{**settings, **changes})


def measured_snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    """SNR of a z-normalised mixture against its z-normalised clean speech: the part of `noisy`
    along `clean` is the speech, the rest the noise (they are independent)."""
    clean, noisy = clean.double().numpy(), noisy.double().numpy()
    speech = clean * (noisy @ clean) / (clean @ clean)
    return 10 * np.log10(np.sum(speech**2) / np.sum((noisy - speech) ** 2))


def test_crop_landmarks_put_the_mouth_at_the_centre_of_each_crop(pairs):  # noqa: F811
    _, track = mouth_crops_video(pairs / "talk" / "one.mp4")
    landmarks = crop_landmarks(track.landmarks)
    assert landmarks.shape == (len(track.landmarks), 68, 2)
    centres = landmarks[track.has_face][:, MOUTH].mean(axis=1)
    # the cropper centres its patch on the mouth, rounding the corner to whole pixels
    assert np.abs(centres - MOUTH_SIZE / 2).max() <= 0.5 + 1e-3


def test_occluded_training_samples_change_the_mouth_and_the_audio_snr_is_a_recipe_snr(
    pairs,  # noqa: F811
    noise_file,
    one_thread,
):
    clean = PairFolder(pairs, train=True, seed=4)[0]
    noisy = PairFolder(pairs, train=True, seed=4, corruption=occluders_only(noise_file))[0]
    assert noisy[2] == clean[2]
    changed = (noisy[0] != clean[0]).flatten(1).any(1)
    # one segment covers at least 10% of the frames, several at least 30% of the clip between them
    assert 0.1 * len(changed) <= int(changed.sum()) < len(changed)
    # the crop is centred on the mouth, so its middle half is the mouth region; the recipe's
    # 20-60 px offsets can leave a patch above and left of it, but this seed's patches reach it
    centre = slice(22, 66)
    mouth_change = (noisy[0] - clean[0])[:, 0, centre, centre].abs().flatten(1).amax(1)
    assert (mouth_change[changed] > 0).any()
    snr = measured_snr_db(clean[1], noisy[1])
    nearest = min(TRAIN_SNRS_DB, key=lambda s: abs(s - snr))
    assert abs(snr - nearest) < 1.0


def test_the_same_seed_gives_the_same_corrupted_sample_and_another_seed_another(
    pairs,  # noqa: F811
    noise_file,
    one_thread,
):
    corruption = TrainingCorruption(noise_file=noise_file)
    first, again, other = (
        PairFolder(pairs, train=True, seed=s, corruption=corruption)[0] for s in (7, 7, 8)
    )
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_without_corruption_a_training_sample_is_the_clean_crops_and_audio(pairs):  # noqa: F811
    folder = PairFolder(pairs, train=True, seed=4)
    video, audio, _ = folder[0]
    mouths, _, has_face, wav = folder._crops(folder.videos[0])
    expected = data.model_video(mouths, np.random.default_rng(4), has_face)
    assert torch.equal(video, expected)
    assert torch.equal(audio, torch.from_numpy(data.normalized_waveform(wav, len(mouths))))


def test_validation_sets_are_never_corrupted(pairs, lrs, noise_file):  # noqa: F811
    corruption = TrainingCorruption(p_clean_video=0.0, noise_file=noise_file)
    for clean, given in (
        (PairFolder(pairs), PairFolder(pairs, corruption=corruption)),
        (
            LRSClips(lrs[0], lrs[1] / "val.txt", validation=True),
            LRSClips(lrs[0], lrs[1] / "val.txt", validation=True, corruption=corruption),
        ),
    ):
        assert all(torch.equal(a, b) for a, b in zip(clean[0][:2], given[0][:2], strict=True))


def test_lrs_training_clips_get_pixel_noise_and_audio_noise_without_landmarks(
    lrs,  # noqa: F811
    noise_file,
):
    root, lists = lrs
    corruption = TrainingCorruption(p_clean_video=0.0, p_noise=1.0, noise_file=noise_file)
    clean = LRSClips(root, lists / "0_100.txt", train=True, seed=2)[0]
    noisy = LRSClips(root, lists / "0_100.txt", train=True, seed=2, corruption=corruption)[0]
    changed = (noisy[0] != clean[0]).flatten(1).any(1)
    assert 0 < int(changed.sum()) < len(changed)
    assert not torch.equal(noisy[1], clean[1])


def test_a_missing_occluder_folder_or_noise_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        TrainingCorruption(occluders=tmp_path / "nowhere")
    with pytest.raises(UserError, match="not found"):
        TrainingCorruption(noise_file=tmp_path / "missing.wav")


def test_modality_dropout_withholds_at_most_one_stream_in_its_shares():
    dropout = ModalityDropout(p_static_video=0.2, p_blank_video=0.1, p_silent_audio=0.3,
                              p_noise_audio=0.1)  # fmt: skip
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (20, 96, 96), dtype=np.uint8)
    wav = rng.normal(0, 0.1, 20 * 640).astype(np.float32)
    noise = rng.normal(0, 0.3, 16000).astype(np.float32)
    seen = {"static": 0, "blank": 0, "silent": 0, "noise": 0, "kept": 0}
    for _ in range(2000):
        video, audio = dropout.apply(crops, wav, noise, rng)
        video_kept, audio_kept = np.array_equal(video, crops), np.array_equal(audio, wav)
        assert video_kept or audio_kept  # never both streams gone
        assert video.shape == crops.shape and audio.shape == wav.shape
        if not video_kept:
            seen["blank" if not video.any() else "static"] += 1
            assert (video == video[:1]).all()
        elif not audio_kept:
            seen["silent" if not audio.any() else "noise"] += 1
            assert not audio.any() or np.isin(audio, noise).all()
        else:
            seen["kept"] += 1
    shares = {k: v / 2000 for k, v in seen.items()}
    expected = {"static": 0.2, "blank": 0.1, "silent": 0.3, "noise": 0.1, "kept": 0.3}
    assert all(abs(shares[k] - expected[k]) < 0.04 for k in expected), shares
    with pytest.raises(ValueError, match="sum to at most 1"):
        ModalityDropout(p_static_video=0.6, p_silent_audio=0.6)


def test_clean_audio_share_leaves_that_share_of_clips_untouched(noise_file):
    rng = np.random.default_rng(0)
    wav = rng.normal(0, 0.1, 8000).astype(np.float32)
    corruption = TrainingCorruption(noise_file=noise_file, p_clean_audio=0.3)
    clean = sum(np.array_equal(corruption.corrupt_audio(wav, rng), wav) for _ in range(1000))
    assert abs(clean / 1000 - 0.3) < 0.05
    recipe = TrainingCorruption(noise_file=noise_file)  # the paper's: every clip noisy
    assert not any(np.array_equal(recipe.corrupt_audio(wav, rng), wav) for _ in range(100))
