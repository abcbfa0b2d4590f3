"""AV-RelScore training samples from a SynthGrid corpus: (mouth video, waveform, transcript).

Items are what `modelzoo.avrelscore.train.collate` takes: the 96x96 grey mouth ROIs cut to 88x88
and normalised by `modelzoo.avrelscore.data.model_video` (a random crop and a coin-flip mirror for
training, the centre otherwise, as ms-dot-k/AVSR's transforms do), the utterance-normalised 16 kHz
waveform trimmed to the video, and the transcript from the clip's LRS-style .txt file. Training
items add the frames that corruption or dropout changed in each stream (`corrupted_frames`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from modelzoo.avrelscore.augment import ModalityDropout, TrainingCorruption
from modelzoo.avrelscore.data import TrainingCorruptionMixin, corrupted_frames, model_video
from modelzoo.avrelscore.model import SAMPLES_PER_FRAME
from modelzoo.errors import UserError
from modelzoo.media.crops import MOUTH_SIZE
from modelzoo.media.faces import CANONICAL_FACE, MOUTH
from modelzoo.media.mel import normalized_waveform


def clip_names(root: Path, split: str) -> list[str]:
    listing = Path(root) / "filelists" / f"{split}.txt"
    if not listing.is_file():
        raise UserError(f"{listing} not found: is {root} a SynthGrid corpus?")
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()]


def read_transcript(path: Path) -> str:
    """The text after "Text:" in an LRS-style transcript file."""
    for line in path.read_text().splitlines():
        if line.startswith("Text:"):
            return line[len("Text:") :].strip()
    raise UserError(f"{path} has no 'Text:' line")


# Where the mouth points sit in every mouth crop: the crop centres the canonical face's mouth, and
# SynthGrid's rendered faces are frontal, so the canonical points place training occluders.
MOUTH_CORNER = np.round(CANONICAL_FACE[MOUTH].mean(axis=0) - MOUTH_SIZE // 2)
CROP_LANDMARKS = (CANONICAL_FACE - MOUTH_CORNER).astype(np.float32)
# Streams a validation or evaluation set can withhold, as a visitor's input may: `static_video`
# holds the first crop for the whole clip (a still photo), `silent_audio` mutes the clip.
CONDITIONS = ("clean", "static_video", "silent_audio")


class AVSRClips(TrainingCorruptionMixin, torch.utils.data.Dataset):
    """One split's clips. For training, `corruption` (the paper's recipe) and `dropout` (whole
    streams withheld) draw from a random stream apart from the crops' own; `condition` withholds
    a stream from every clip, for validation."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        train: bool = False,
        seed: int = 0,
        corruption: TrainingCorruption | None = None,
        dropout: ModalityDropout | None = None,
        condition: str = "clean",
    ):
        if condition not in CONDITIONS:
            raise ValueError(f"condition {condition!r} is not one of {', '.join(CONDITIONS)}")
        super().__init__(corruption, train, seed)
        self.root, self.train, self.condition = Path(root), train, condition
        self.names = clip_names(self.root, split)
        self.rng = np.random.default_rng(seed)
        self.dropout = dropout if train else None

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple:
        name = self.names[index]
        mouths = np.load(self.root / name / "mouth.npy")  # (T, 96, 96) uint8
        wav, _ = sf.read(self.root / name / "audio.wav", dtype="float32")
        wav = wav[: len(mouths) * SAMPLES_PER_FRAME]
        landmarks = np.broadcast_to(CROP_LANDMARKS, (len(mouths), *CROP_LANDMARKS.shape))
        clean_mouths, clean_wav = mouths, wav
        mouths, wav = self._corrupt(mouths, landmarks, wav)
        if self.dropout is not None:
            noise = (self.corruption or TrainingCorruption()).noise_bank()
            mouths, wav = self.dropout.apply(mouths, wav, noise, self.corruption_rng)
        if self.condition == "static_video":
            mouths = np.broadcast_to(mouths[0], mouths.shape)
        elif self.condition == "silent_audio":
            wav = np.zeros_like(wav)
        video = model_video(mouths, self.rng if self.train else None)
        audio = normalized_waveform(wav, len(mouths))
        text = read_transcript(self.root / f"{name}.txt")
        if self.train:  # the frames each stream lost, for the reliability scorers' labels
            return (
                video,
                torch.from_numpy(audio),
                text,
                corrupted_frames(clean_mouths, mouths, clean_wav, wav),
            )
        return video, torch.from_numpy(audio), text
