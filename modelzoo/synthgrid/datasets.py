"""AV-RelScore training samples from a SynthGrid corpus: (mouth video, waveform, transcript).

Items are what `modelzoo.avrelscore.train.collate` takes: the 96x96 grey mouth ROIs cut to 88x88
and normalised by `modelzoo.avrelscore.data.model_video` (a random crop and a coin-flip mirror for
training, the centre otherwise, as ms-dot-k/AVSR's transforms do), the utterance-normalised 16 kHz
waveform trimmed to the video, and the transcript from the clip's LRS-style .txt file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from modelzoo.avrelscore.data import model_video
from modelzoo.errors import UserError
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
        video = model_video(mouths, self.rng if self.train else None)
        wav, _ = sf.read(self.root / name / "audio.wav", dtype="float32")
        audio = normalized_waveform(wav, len(mouths))
        text = read_transcript(self.root / f"{name}.txt")
        return video, torch.from_numpy(audio), text
