"""AV-RelScore training data: LRS2/LRS3 as ms-dot-k/AVSR@2a287f5 lays them out, or any folder of
(video, transcript) pairs. Items are what `modelzoo.avrelscore.train.collate` takes.

The authors' layout (`src/data/dataset.py`), after their preprocessing into mouth-ROI videos:

    ROOT/Video/<id>.mp4   96x96 grey mouth crops at 25 fps
    ROOT/Audio/<id>.wav   16 kHz mono speech
    ROOT/Text/<id>.txt    LRS transcript; its first line is "Text:  THE WORDS"

and split files listing one clip id per line (the first word of the line counts): their
curriculum lists `src/data/{LRS2,LRS3}/0_{100,150,300,450,600}.txt` hold the pretrain + main
(LRS2) or pretrain + trainval (LRS3) clips of at most that many frames, ids like
`pretrain/<video>/<utterance>`; the validation lists hold bare `<video>/<utterance>` ids under
`main/` (LRS2) or `trainval/` (LRS3). As there, videos are cut to 600 frames, crops are a random
88x88 window mirrored half of the time in training and the centre otherwise, normalised with
(0.421, 0.165), and the waveform is trimmed or padded to the video and z-normalised.

A training set given a `modelzoo.avrelscore.augment.TrainingCorruption` corrupts each sample as the
authors' training does (never in validation). Its draws come from a random stream of their own, so
switching corruption on leaves the crops and mirrors of a seeded run as they were.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from modelzoo.avrelscore.augment import TrainingCorruption
from modelzoo.avrelscore.model import SAMPLES_PER_FRAME, VIDEO_MEAN, VIDEO_STD
from modelzoo.errors import UserError
from modelzoo.media import io as media_io
from modelzoo.media.crops import (
    MODEL_SIZE,
    MOUTH_SIZE,
    center_crop,
    mouth_crops,
    mouth_crops_video,
)
from modelzoo.media.faces import NoFaceError
from modelzoo.media.mel import normalized_waveform

MAX_FRAMES = 600  # the reference's --max_vid_len
VALIDATION_FOLDER = {"LRS2": "main", "LRS3": "trainval"}
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
CACHE_VERSION = "v2"  # v2 adds the crops' landmarks; older cache files are simply not found

Sample = tuple[torch.Tensor, torch.Tensor, str]  # (T, 1, 88, 88) video, (T * 640,) audio, text


def read_split(path: str | Path) -> list[str]:
    """Clip ids of a split file: the first word of each non-empty line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"split file {path} not found")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def read_transcript(path: Path) -> str:
    """An LRS transcript's words (the first line after its first space, "Text:  WORDS"), or the
    whole first line of a plain text file."""
    lines = path.read_text().splitlines()
    first = lines[0].strip() if lines else ""
    if not first:
        raise UserError(f"{path} holds no transcript")
    return first.split(None, 1)[1].strip() if first.startswith("Text:") else first


def model_video(
    mouths: np.ndarray, rng: np.random.Generator | None, has_face: np.ndarray | None = None
) -> torch.Tensor:
    """(T, 1, 88, 88) normalised model input of (T, 96, 96) uint8 mouth crops: a random window,
    mirrored half of the time, when `rng` is given (training), else the centre. Frames without a
    face become zeros, as `modelzoo.avrelscore.inference` feeds them."""
    if rng is not None:
        top, left = rng.integers(0, mouths.shape[1] - MODEL_SIZE + 1, 2)
        mouths = mouths[:, top : top + MODEL_SIZE, left : left + MODEL_SIZE]
        if rng.integers(2):
            mouths = mouths[:, :, ::-1]
    else:
        mouths = center_crop(mouths)
    video = (mouths.astype(np.float32) / 255.0 - VIDEO_MEAN) / VIDEO_STD
    if has_face is not None:
        video[~has_face] = 0.0
    return torch.from_numpy(video[:, None].copy())


def _sample(video: torch.Tensor, wav: np.ndarray, text: str) -> Sample:
    return video, torch.from_numpy(normalized_waveform(wav, len(video))), text


def corrupted_frames(
    mouths: np.ndarray, corrupted_mouths: np.ndarray, wav: np.ndarray, corrupted_wav: np.ndarray
) -> dict[str, np.ndarray]:
    """Per stream, (T,) True at the video frames whose crop or 640 audio samples the corruption
    changed: the labels of `AVRelScoreConfig.reliability_weight`."""
    frames = len(mouths)

    def by_frame(samples: np.ndarray) -> np.ndarray:
        samples = samples[: frames * SAMPLES_PER_FRAME]
        return np.pad(samples, (0, frames * SAMPLES_PER_FRAME - len(samples))).reshape(frames, -1)

    video = (mouths != corrupted_mouths).reshape(frames, -1).any(1)
    audio = (by_frame(wav) != by_frame(corrupted_wav)).any(1)
    return {"video": video, "audio": audio}


class TrainingCorruptionMixin:
    """The training corruption of a dataset and its random stream (none outside training)."""

    def __init__(self, corruption: TrainingCorruption | None, train: bool, seed: int):
        self.corruption = corruption if train else None
        # a stream apart from the crops' own: its draws do not shift their windows and mirrors
        self.corruption_rng = np.random.default_rng([seed, 1])

    def _corrupt(
        self, mouths: np.ndarray, landmarks: np.ndarray | None, wav: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Corrupted (mouths, wav); the waveform is cut to the video first, so that the drawn SNR
        holds over the samples the model reads."""
        if self.corruption is None:
            return mouths, wav
        rng = self.corruption_rng
        mouths = self.corruption.corrupt_video(mouths, landmarks, rng)
        wav = self.corruption.corrupt_audio(wav[: len(mouths) * SAMPLES_PER_FRAME], rng)
        return mouths, wav


class LRSClips(TrainingCorruptionMixin, Dataset):
    """LRS2 or LRS3 in the authors' preprocessed layout, the clips of one split file.

    With `corruption` (training only) the audio gets noise and the crops noise and blur, but no
    occluders: the layout holds no landmarks to place them on (the authors' `Transformed_LM`
    pickles are not read), so use PairFolder on face videos for the full recipe.
    """

    def __init__(
        self,
        root: str | Path,
        split_file: str | Path,
        *,
        corpus: str = "LRS3",
        validation: bool = False,
        train: bool = False,
        max_frames: int = MAX_FRAMES,
        seed: int = 0,
        corruption: TrainingCorruption | None = None,
    ):
        super().__init__(corruption, train, seed)
        if corpus not in VALIDATION_FOLDER:
            raise UserError(f"corpus must be LRS2 or LRS3, not {corpus!r}")
        self.root, self.max_frames = Path(root), max_frames
        ids = read_split(split_file)
        if validation:  # the validation lists name clips inside main/ or trainval/
            ids = [f"{VALIDATION_FOLDER[corpus]}/{i}" for i in ids]
        self.ids = ids
        self.rng = np.random.default_rng(seed) if train else None
        for i in ids[:1] + ids[-1:]:  # a wrong root or list shows at once, not mid-training
            for path in self.files(i):
                if not path.is_file():
                    raise UserError(
                        f"{path} not found: is {self.root} laid out as LRS Video/Audio/Text?"
                    )

    def files(self, clip_id: str) -> tuple[Path, Path, Path]:
        return tuple(self.root / kind / f"{clip_id}{ext}" for kind, ext in
                     (("Video", ".mp4"), ("Audio", ".wav"), ("Text", ".txt")))  # fmt: skip

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        video_path, audio_path, text_path = self.files(self.ids[index])
        frames = []
        for chunk in media_io.iter_frames(video_path):
            frames += [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in chunk]
            if len(frames) >= self.max_frames:
                break
        mouths = np.stack(frames[: self.max_frames])  # (T, 96, 96)
        if mouths.shape[1:] != (MOUTH_SIZE, MOUTH_SIZE):
            raise UserError(
                f"{video_path} is {mouths.shape[2]}x{mouths.shape[1]}: the LRS layout holds "
                f"{MOUTH_SIZE}x{MOUTH_SIZE} mouth crops (use PairFolder for face videos)"
            )
        wav, rate = sf.read(audio_path, dtype="float32", always_2d=True)
        if rate != 16000:
            raise UserError(f"{audio_path} is at {rate} Hz; the LRS layout has 16 kHz audio")
        mouths, wav = self._corrupt(mouths, None, wav.mean(1))
        return _sample(model_video(mouths, self.rng), wav, read_transcript(text_path))


class PairFolder(TrainingCorruptionMixin, Dataset):
    """Any folder of (video, transcript) pairs: NAME.mp4 (or .mov, .mkv, .webm, .avi) with
    NAME.txt beside it, in any sub-folder. Each video's face is tracked once; its mouth crops, their
    landmarks in crop pixels and the 16 kHz audio are cached in `cache_dir` (default
    ROOT/.avrelscore-cache), keyed by the file's path, size and modification time. With
    `corruption` (training only) samples get the whole recipe: occluders, noise, blur, babble."""

    def __init__(
        self,
        root: str | Path,
        *,
        cache_dir: str | Path | None = None,
        train: bool = False,
        max_frames: int = MAX_FRAMES,
        seed: int = 0,
        corruption: TrainingCorruption | None = None,
    ):
        super().__init__(corruption, train, seed)
        self.root, self.max_frames = Path(root), max_frames
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / ".avrelscore-cache"
        self.videos = sorted(
            p
            for p in self.root.rglob("*")
            if p.suffix.lower() in VIDEO_SUFFIXES
            and p.with_suffix(".txt").is_file()
            and self.cache_dir not in p.parents
        )
        if not self.videos:
            raise UserError(f"{self.root} has no video with a transcript (NAME.mp4 + NAME.txt)")
        self.rng = np.random.default_rng(seed) if train else None

    def __len__(self) -> int:
        return len(self.videos)

    def frame_counts(self) -> list[int]:
        """Frames of each clip, for `train.length_stages`; this crops (and caches) every clip."""
        return [min(len(self._crops(p)[0]), self.max_frames) for p in self.videos]

    def __getitem__(self, index: int) -> Sample:
        path = self.videos[index]
        mouths, landmarks, has_face, wav = self._crops(path)
        mouths, landmarks = mouths[: self.max_frames], landmarks[: self.max_frames]
        has_face = has_face[: self.max_frames]
        mouths, wav = self._corrupt(mouths, landmarks, wav)
        video = model_video(mouths, self.rng, has_face)
        return _sample(video, wav, read_transcript(path.with_suffix(".txt")))

    def _crops(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(T, 96, 96) mouth crops, (T, 68, 2) landmarks in their pixels, (T,) has_face, audio."""
        stat = path.stat()
        key = f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        cached = self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"
        if cached.is_file():
            with np.load(cached) as saved:
                return saved["mouths"], saved["landmarks"], saved["has_face"], saved["wav"]
        try:
            mouths, track = mouth_crops_video(path)
        except NoFaceError as err:
            raise UserError(f"{path}: {err}; training clips need a visible face") from err
        landmarks = crop_landmarks(track.landmarks)
        wav = media_io.read_audio(path)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".tmp.npz")
        np.savez(partial, mouths=mouths, landmarks=landmarks, has_face=track.has_face, wav=wav)
        partial.replace(cached)  # a crash mid-write leaves no half file behind
        return mouths, landmarks, track.has_face, wav


def crop_landmarks(track_landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) landmarks in the pixels of the mouth crops that `mouth_crops_video` cuts for a
    track's (T, 68, 2) frame landmarks (NaN where there is no face). The cropper itself maps them,
    with the same smoothing and transform; it warps a 1-pixel stand-in frame, as only the points
    are wanted here."""
    stand_in = np.zeros((len(track_landmarks), 1, 1, 3), np.uint8)
    return np.stack([crop.landmarks for crop in mouth_crops(stand_in, track_landmarks)])
