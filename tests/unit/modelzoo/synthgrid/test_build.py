"""SynthGrid corpus: playable clips, GRID transcripts in AV-RelScore's vocabulary, lip sync."""

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from modelzoo.__main__ import main
from modelzoo.alm.data import TalkingFaceDataset, folder_clips
from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.augment import ModalityDropout, TrainingCorruption
from modelzoo.avrelscore.data import model_video
from modelzoo.avrelscore.train import collate
from modelzoo.media.crops import mouth_crops_video
from modelzoo.media.io import read_audio
from modelzoo.media.probe import probe
from modelzoo.synthgrid import grammar
from modelzoo.synthgrid.datasets import AVSRClips, read_transcript

CLIPS = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthgrid") / "corpus"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["synthgrid", "build", str(out), "--utterances", str(CLIPS)]) == 0
    return out, json.loads(printed.getvalue())


def clip_names(root):
    return [n for split in ("train", "val", "test") for n in AVSRClips(root, split).names]


def test_cli_reports_the_clips_and_their_length(corpus):
    out, summary = corpus
    assert summary["clips"] == CLIPS and summary["out"] == str(out)
    durations = [probe(out / f"{name}.mp4").duration_s for name in clip_names(out)]
    assert summary["seconds"] == pytest.approx(sum(durations), abs=0.2)


def test_every_split_lists_a_clip(corpus):
    assert sorted(len(AVSRClips(corpus[0], s)) for s in ("train", "val", "test")) == [1, 1, 1]


def test_clips_are_mp4_with_h264_video_and_aac_speech(corpus):
    for name in clip_names(corpus[0]):
        info = probe(corpus[0] / f"{name}.mp4")
        codecs = [s["codec"] for s in info.streams]
        assert codecs == ["h264", "aac"] and info.fps == 25.0
        assert info.sample_rate == 16000 and info.duration_s > 1.0
        audio = read_audio(corpus[0] / f"{name}.mp4")
        assert np.sqrt(np.mean(audio**2)) > 0.02  # speech, not silence


def test_transcripts_are_grid_sentences_in_the_avrelscore_vocabulary(corpus):
    for name in clip_names(corpus[0]):
        text = read_transcript(corpus[0] / f"{name}.txt")
        words = text.lower().split()
        assert len(words) == 6
        assert all(word in slot for word, slot in zip(words, grammar.SLOTS, strict=True))
        ids = vocab.encode(text)
        assert vocab.UNK not in ids and vocab.decode(ids) == text


def test_mouth_opening_in_the_video_follows_the_speech_energy(corpus):
    """The inner-lip gap that dlib tracks in the decoded MP4 opens with loudness. Talkers differ
    in articulation, rooms smear the energy: the lips follow the speech, not perfectly."""
    openings, energies = [], []
    for name in clip_names(corpus[0]):
        mouths, track = mouth_crops_video(corpus[0] / f"{name}.mp4")
        assert track.has_face.all()
        points = track.landmarks
        width = np.linalg.norm(points[:, 54] - points[:, 48], axis=1)
        openings.append(np.linalg.norm(points[:, 66] - points[:, 62], axis=1) / width)
        audio = read_audio(corpus[0] / f"{name}.mp4")[: len(mouths) * 640]
        frames = np.pad(audio, (0, len(mouths) * 640 - len(audio))).reshape(len(mouths), 640)
        energies.append(np.sqrt((frames**2).mean(axis=1)))
    r = np.corrcoef(np.concatenate(openings), np.concatenate(energies))[0, 1]
    assert r > 0.4


def test_avsr_items_batch_with_the_avrelscore_collate(corpus):
    items = [AVSRClips(corpus[0], split, train=split == "train")[0] for split in ("train", "val")]
    for video, audio, *_ in items:
        assert video.shape[1:] == (1, 88, 88) and audio.shape == (video.shape[0] * 640,)
    batch = collate(items)
    assert batch.video.shape[0] == 2 and batch.targets.ne(vocab.IGNORE).sum() > 20
    assert batch.corrupted is None  # the validation item carries no labels


def test_training_items_label_the_frames_each_stream_lost(corpus):
    clean = AVSRClips(corpus[0], "train", train=True)[0][3]
    assert not clean["video"].any() and not clean["audio"].any()
    silent = ModalityDropout(p_static_video=0, p_blank_video=0, p_silent_audio=1, p_noise_audio=0)
    muted = AVSRClips(corpus[0], "train", train=True, dropout=silent)
    video, _, _, lost = muted[0]
    assert lost["audio"].all() and not lost["video"].any() and len(lost["video"]) == len(video)
    recipe = AVSRClips(
        corpus[0], "train", train=True, corruption=TrainingCorruption(p_clean_video=0)
    )
    batch = collate([recipe[0], recipe[0]])  # two draws of the one training clip
    assert batch.corrupted["video"].shape == batch.video.shape[:2]
    for row, frames in enumerate(batch.lengths):
        assert batch.corrupted["video"][row, :frames].any()  # every clip occluded
        assert batch.corrupted["audio"][row, :frames].all()  # babble over the whole clip
        assert not batch.corrupted["audio"][row, frames:].any()  # padding is no corruption


def test_avsr_items_are_the_avrelscore_model_input_of_the_mouth_rois(corpus):
    root = corpus[0]
    name = AVSRClips(root, "train").names[0]
    mouths = np.load(root / name / "mouth.npy")
    train_video = AVSRClips(root, "train", train=True, seed=3)[0][0]
    assert torch.equal(train_video, model_video(mouths, np.random.default_rng(3)))
    assert torch.equal(AVSRClips(root, "train")[0][0], model_video(mouths, None))


def test_wav2lip_layout_gives_critic_and_generator_windows(corpus):
    clips = folder_clips(corpus[0], "train")
    assert len(clips) == 1 and clips[0].num_frames > 25
    assert clips[0].read([0]).shape == (1, 128, 128, 3)
    sync = TalkingFaceDataset(clips, "syncnet", 4)[0]
    assert sync["frames"].shape == (3, 5, 128, 128) and sync["mel"].shape == (1, 80, 16)
    window = TalkingFaceDataset(clips, "generator", 4)[0]
    assert window["faces"].shape == (6, 5, 128, 128)


def test_building_into_a_non_empty_folder_is_refused(corpus, capsys):
    assert main(["synthgrid", "build", str(corpus[0]), "--utterances", "1"]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_avsr_conditions_withhold_one_stream_of_every_clip(corpus):
    root = corpus[0]
    clean_video, clean_audio, text = AVSRClips(root, "val")[0]
    static_video, static_audio, _ = AVSRClips(root, "val", condition="static_video")[0]
    assert torch.equal(static_audio, clean_audio) and torch.equal(static_video[0], clean_video[0])
    assert torch.equal(static_video, static_video[:1].expand_as(static_video))
    assert not torch.equal(clean_video, clean_video[:1].expand_as(clean_video))
    muted_video, muted_audio, muted_text = AVSRClips(root, "val", condition="silent_audio")[0]
    assert torch.equal(muted_video, clean_video) and not muted_audio.any() and muted_text == text
    with pytest.raises(ValueError, match="condition"):
        AVSRClips(root, "val", condition="muted")


def test_avsr_training_corruption_occludes_the_mouth_of_synthgrid_crops(corpus):
    root = corpus[0]
    everything = TrainingCorruption(p_clean_video=0.0, p_noise=0.0, p_blur=0.0)
    clean = AVSRClips(root, "train", train=True, seed=1)[0]
    corrupted = AVSRClips(root, "train", train=True, seed=1, corruption=everything)[0]
    # the canonical mouth points anchor the occluders in the crop, so some frames change
    changed = (corrupted[0] != clean[0]).flatten(1).any(1)
    assert 0 < changed.sum() < len(changed)
    assert not torch.equal(corrupted[1], clean[1]) and corrupted[2] == clean[2]
