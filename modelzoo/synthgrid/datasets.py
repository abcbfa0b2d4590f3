"""AV-RelScore training samples from a SynthGrid corpus: (mouth video, waveform, transcript).

Items are what `modelzoo.avrelscore.train.collate` takes: the 96x96 grey mouth ROIs cut to 88x88
(a random crop and a coin-flip mirror for training, the centre otherwise, as ms-dot-k/AVSR's
transforms do) and normalised, the utterance-normalised 16 kHz waveform trimmed to the video, and
the transcript from the clip's LRS-style .txt file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from modelzoo.avrelscore.model import VIDEO_MEAN, VIDEO_STD
from modelzoo.errors import UserError
from modelzoo.media.crops import MODEL_SIZE, center_crop
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


class AVSRClips(torch.utils.data.Dataset):
    def __init__(self, root: str | Path, split: str, *, train: bool = False, seed: int = 0):
        self.root, self.train = Path(root), train
        self.names = clip_names(self.root, split)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        name = self.names[index]
        mouths = np.load(self.root / name / "mouth.npy")  # (T, 96, 96) uint8
        if self.train:
            top, left = self.rng.integers(0, mouths.shape[1] - MODEL_SIZE + 1, 2)
            mouths = mouths[:, top : top + MODEL_SIZE, left : left + MODEL_SIZE]
            if self.rng.integers(2):
                mouths = mouths[:, :, ::-1]
        else:
            mouths = center_crop(mouths)
        video = (mouths.astype(np.float32) / 255.0 - VIDEO_MEAN) / VIDEO_STD
        wav, _ = sf.read(self.root / name / "audio.wav", dtype="float32")
        audio = normalized_waveform(wav, len(mouths))
        text = read_transcript(self.root / f"{name}.txt")
        return torch.from_numpy(video[:, None].copy()), torch.from_numpy(audio), text
