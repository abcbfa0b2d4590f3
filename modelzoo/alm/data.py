"""Training windows from Wav2Lip-layout talking-face clips, for the critic and the generators.

A clip is a folder of pre-cropped frames `0.jpg, 1.jpg, ...` (25 fps) with `audio.wav` (or a
precomputed `mel.npy`, 80 x M); `root/filelists/<split>.txt` may list clip folders relative to
root (Wav2Lip's `get_image_list`), else every folder under root holding `0.jpg` is a clip (every
tenth one kept for "val"/"test"). Arrays made by `modelzoo.media` can be wrapped in `ArrayClip`.
Windows are cut by `modelzoo.media.mel` as Wav2Lip and jinny960812/SyncTalkFace@9d5d08d
`train.py` cut them: the SyncNet window of frames f..f+4 starts at mel step int(80 f / 25); the
generator's window for target frame k starts at frame k - 1.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from modelzoo.alm.model import mouth_windows
from modelzoo.errors import UserError
from modelzoo.media.io import read_audio
from modelzoo.media.mel import MEL_STEP, SAMPLE_RATE, melspectrogram, segmented_mels, sync_mel

SYNC_FRAMES = 5
# "syncnet_offsets" windows ask the critic to pick the in-sync mel among this many candidates,
# the others drawn from the offsets that syncnet_python's search covers (+-15 frames); 8 rather
# than all 29 because the mel tower is most of a step's time.
SYNC_OFFSETS = range(-15, 16)
SYNC_CANDIDATES = 8


class ClipDataError(UserError):
    """A training clip folder is unusable (no frames, no audio or mel, too short)."""


class ArrayClip:
    """A clip held in memory: frames (N, H, W, 3) uint8 and its Wav2Lip mel (80, M)."""

    def __init__(self, frames: np.ndarray, mel: np.ndarray, name: str = "clip"):
        self.frames, self.mel, self.name = np.asarray(frames), np.asarray(mel, np.float32), name

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.frames[list(indices)]


class FolderClip:
    """A Wav2Lip-layout clip folder, read lazily: frames on demand, the mel once.

    Where no `mel.npy` is stored, `mel_fn(wav_16k) -> (80, M)` (default: the Wav2Lip mel of
    `modelzoo.media.mel`) is computed from `audio.wav`.
    """

    def __init__(self, folder: Path, img_size: int, mel_fn: Callable | None = None):
        self.folder, self.img_size, self.mel_fn, self.name = folder, img_size, mel_fn, str(folder)
        self.paths = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))
        if not self.paths:
            raise ClipDataError(f"{folder} holds no numbered .jpg frames")
        self._mel = None

    @property
    def num_frames(self) -> int:
        return len(self.paths)

    @property
    def mel(self) -> np.ndarray:
        if self._mel is None:
            self._mel = self._load_mel()
        return self._mel

    def _load_mel(self) -> np.ndarray:
        if (self.folder / "mel.npy").exists():
            return np.load(self.folder / "mel.npy").astype(np.float32)
        wav_path = self.folder / "audio.wav"
        if not wav_path.exists():
            raise ClipDataError(f"{self.folder} has neither mel.npy nor audio.wav")
        info = sf.info(str(wav_path))
        if info.samplerate == SAMPLE_RATE and info.channels == 1:
            # Already what the mel wants: read in-process (two ffmpeg runs a clip would cost a
            # training run minutes of its first pass over a corpus).
            wav = sf.read(str(wav_path), dtype="float32")[0]
        else:
            wav = read_audio(wav_path)  # mono 16 kHz, resampled by ffmpeg as Wav2Lip's librosa
        return np.asarray((self.mel_fn or melspectrogram)(wav), np.float32)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        from PIL import Image  # only folder datasets need an image decoder

        frames = []
        for i in indices:
            with Image.open(self.paths[i]) as image:
                image = image.convert("RGB")
                if image.size != (self.img_size, self.img_size):
                    image = image.resize((self.img_size, self.img_size), Image.BILINEAR)
                frames.append(np.asarray(image))
        return np.stack(frames)


def folder_clips(root: Path, split: str | None = None, img_size: int = 128, mel_fn=None):
    """Clips of a Wav2Lip-layout dataset root, from `filelists/<split>.txt` when it exists."""
    root = Path(root)
    filelist = root / "filelists" / f"{split}.txt"
    if split is not None and filelist.exists():
        names = [line.split()[0] for line in filelist.read_text().splitlines() if line.strip()]
        folders = [root / name for name in names]
    else:
        folders = sorted({p.parent for p in root.rglob("0.jpg")})
        if split is not None and len(folders) > 1:
            # Without filelists, every tenth clip is held out for validation.
            held_out = folders[::10]
            folders = (
                held_out if split in ("val", "test") else [f for f in folders if f not in held_out]
            )
    if not folders:
        raise ClipDataError(f"{root} holds no clip folders (folders of 0.jpg, 1.jpg, ... frames)")
    return [FolderClip(folder, img_size, mel_fn) for folder in folders]


def to_unit(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0


def to_signed(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) in [-1, 1], as the generators take."""
    return to_unit(frames) * 2.0 - 1.0


def augment_faces(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One draw of mirroring, colour and placement for a (3, T, H, W) window in [0, 1], the same
    for all its frames: timing is what a critic must judge, not a face's tint or where it sits.
    On SynthGrid's few identities a critic without it scored 6-frame shifts at an AUC of 0.85 on
    validation faces and 0.79 on held-out ones."""
    if rng.random() < 0.5:
        frames = frames.flip(-1)
    gain = torch.from_numpy(rng.uniform(0.8, 1.2, 3).astype(np.float32)).view(3, 1, 1, 1)
    contrast, offset = rng.uniform(0.7, 1.3), rng.uniform(-0.1, 0.1)
    mean = frames.mean()
    frames = ((frames * gain - mean) * contrast + mean + offset).clamp(0.0, 1.0)
    dy, dx = (int(d) for d in rng.integers(-4, 5, 2))
    return frames.roll((dy, dx), dims=(-2, -1))


def generator_window(clip, t: int, ref: int) -> dict | None:
    """Targets t..t+4 with their references, mels and lip windows; None if out of range."""
    mel = clip.mel
    sync_window, indiv = sync_mel(mel, t), segmented_mels(mel, t)
    if t < 2 or t + SYNC_FRAMES + 2 > clip.num_frames or sync_window is None or indiv is None:
        return None
    window = to_signed(clip.read(range(t - 2, t + SYNC_FRAMES + 2)))  # (3, 9, H, W)
    target = window[:, 2 : 2 + SYNC_FRAMES]  # (3, 5, H, W)
    masked = target.clone()
    masked[:, :, target.size(2) // 2 :] = 0  # the generator must draw the lower half
    reference = to_signed(clip.read(range(ref, ref + SYNC_FRAMES)))
    return {
        "faces": torch.cat([masked, reference]),  # (6, 5, H, W)
        "mels": torch.from_numpy(indiv).unsqueeze(1),  # (5, 1, 80, 16)
        "sync_mel": torch.from_numpy(sync_window).unsqueeze(0),  # (1, 80, 16)
        "target": target,  # (3, 5, H, W)
        "lips": mouth_windows(window[None])[0],  # (5, 3, 5, H, W)
    }


def context_mels(clip, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame mel windows of frames first..first+count-1, zeros where off the clip.

    Returns (count, 1, 80, 16) mels and a (count,) bool mask of the real ones.
    """
    mels = torch.zeros(count, 1, 80, MEL_STEP)
    valid = torch.zeros(count, dtype=torch.bool)
    for i, k in enumerate(range(first, first + count)):
        window = sync_mel(clip.mel, k - 1) if 1 <= k < clip.num_frames else None
        if window is not None:
            mels[i, 0], valid[i] = torch.from_numpy(window), True
    return mels, valid


class TalkingFaceDataset(torch.utils.data.Dataset):
    """Random training windows from clips; item i depends only on (seed, i), so a resumed run
    that asks for the same indices sees the same windows.

    kind: "syncnet" (in-sync or offset pairs), "syncnet_offsets" (one window of frames, its
    in-sync mel window and `SYNC_CANDIDATES - 1` mel windows 2..15 frames away), "generator"
    (Audio-Lip Memory), "l2f" (generator windows plus +-context audio tokens per target frame) or
    "a2l" (one A2L window of 2*context+1 audio tokens with the frames its lip targets need).

    `augment` varies the critic's frames (`augment_faces`) so that it judges faces it never saw.
    """

    def __init__(
        self,
        clips: Sequence,
        kind: str,
        length: int,
        context: int = 0,
        seed: int = 0,
        augment: bool = False,
    ):
        if kind not in ("syncnet", "syncnet_offsets", "generator", "l2f", "a2l"):
            raise ValueError(f"unknown dataset kind {kind!r}")
        if not clips:
            raise ClipDataError("the dataset has no clips")
        self.clips, self.kind, self.length, self.context, self.seed = (
            clips,
            kind,
            length,
            context,
            seed,
        )
        self.augment = augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, index))
        for _ in range(100):
            clip = self.clips[rng.integers(len(self.clips))]
            sample = getattr(self, f"_{self.kind}")(clip, rng)
            if sample is not None:
                return sample
        raise ClipDataError("no clip is long enough for a training window (9 frames and 0.4 s)")

    def _syncnet(self, clip, rng):
        n = clip.num_frames
        if n <= 3 * SYNC_FRAMES:
            return None
        t, other = rng.choice(n - SYNC_FRAMES + 1, size=2, replace=False)
        in_sync = bool(rng.integers(2))
        mel = sync_mel(clip.mel, int(t))
        if mel is None:
            return None
        start = int(t if in_sync else other)
        return {
            "frames": to_unit(clip.read(range(start, start + SYNC_FRAMES))),  # (3, 5, H, W)
            "mel": torch.from_numpy(mel).unsqueeze(0),  # (1, 80, 16)
            "label": torch.tensor(float(in_sync)),
        }

    def _syncnet_offsets(self, clip, rng):
        n = clip.num_frames
        if n <= 3 * SYNC_FRAMES:
            return None
        t = int(rng.integers(0, n - SYNC_FRAMES + 1))
        in_sync = sync_mel(clip.mel, t)
        if in_sync is None:
            return None
        # Offsets of one frame are left out: their windows overlap the in-sync one by 80%.
        shifts = [d for d in SYNC_OFFSETS if abs(d) >= 2 and sync_mel(clip.mel, t + d) is not None]
        shifts = rng.permutation(shifts)[: SYNC_CANDIDATES - 1]
        mels = np.zeros((SYNC_CANDIDATES, *in_sync.shape), np.float32)
        mels[0] = in_sync
        for k, d in enumerate(shifts, start=1):
            mels[k] = sync_mel(clip.mel, t + int(d))
        frames = to_unit(clip.read(range(t, t + SYNC_FRAMES)))  # (3, 5, H, W)
        return {
            "frames": augment_faces(frames, rng) if self.augment else frames,
            "mels": torch.from_numpy(mels).unsqueeze(1),  # (candidates, 1, 80, 16), in sync first
            "valid": torch.arange(SYNC_CANDIDATES) <= len(shifts),
        }

    @staticmethod
    def _start_and_reference(clip, rng) -> tuple[int, int] | None:
        n = clip.num_frames
        if n < 2 * SYNC_FRAMES + 4:
            return None
        t = int(rng.integers(2, n - SYNC_FRAMES - 1))
        ref = int(rng.integers(0, n - SYNC_FRAMES))
        return t, ref if ref != t else ref + 1

    def _generator(self, clip, rng):
        picked = self._start_and_reference(clip, rng)
        return None if picked is None else generator_window(clip, *picked)

    def _l2f(self, clip, rng):
        picked = self._start_and_reference(clip, rng)
        sample = None if picked is None else generator_window(clip, *picked)
        if sample is None:
            return None
        t, w = picked[0], self.context
        sample["context_mels"], sample["context_valid"] = context_mels(
            clip, t - w, SYNC_FRAMES + 2 * w
        )
        return sample

    def _a2l(self, clip, rng):
        n, w = clip.num_frames, self.context
        centre = int(rng.integers(0, n))
        mels, valid = context_mels(clip, centre - w, 2 * w + 1)
        first = centre - w - 2  # lip targets need two frames either side
        indices = [k for k in range(first, centre + w + 3) if 0 <= k < n]
        frames = torch.zeros(3, 2 * w + 5, *clip.read([0]).shape[1:3])
        frames[:, indices[0] - first : indices[-1] - first + 1] = to_signed(clip.read(indices))
        token_frames = torch.arange(centre - w, centre + w + 1)
        has_lips = (token_frames - 2 >= 0) & (token_frames + 2 < n)
        return {"mels": mels, "valid": valid, "frames": frames, "target_valid": valid & has_lips}
