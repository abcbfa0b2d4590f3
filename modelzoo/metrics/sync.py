"""Lip-sync confidence and distance (LSE-C, LSE-D) and the audio-visual offset, with any zoo SyncNet
as the judge.

Protocol, after syncnet_python (joonson/syncnet_python `SyncNetInstance.evaluate` and
`calc_pdist`, as Wav2Lip's evaluation scripts run it): every 5-frame window t of the face track
gets a visual embedding and every 0.2 s mel window starting at frame t an audio embedding; for
each window the Euclidean distance to the audio embeddings at offsets -15..+15 frames is taken,
and distances are averaged over the clip per offset. LSE-D is the smallest mean distance, LSE-C
the median of the 31 means minus that minimum, and `offset` is 15 minus the index of the minimum,
syncnet_python's sign: a clip whose audio is delayed by k frames reports about -k.

It differs from syncnet_python in what the SyncNet is: the zoo's Wav2Lip-style SyncNet reads the
lower half of 128x128 Wav2Lip face crops (boxes from the 68 dlib landmarks of
`modelzoo.media.faces`, not S3FD) with RGB pixels in [0, 1], and its embeddings are unit vectors
(distances lie in [0, sqrt 2]), so the numbers are on the judge's own scale: compare only figures
with the same `protocol`, which names the judge's id and revision. And where the shifted audio runs
off the clip, `calc_pdist` pairs the window with zero padding; here such pairs are left out of the
mean instead, because a zero vector lies at distance 1 from any unit embedding, nearer than an
out-of-sync pair often is, which would pull the minimum to the extreme offsets of short clips.
Clips shorter than MIN_FRAMES give no score; syncnet_python's minimum track of 100 frames would
exclude most GRID-length clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from modelzoo.media.mel import MEL_STEP, mel_start
from modelzoo.syncnet.model import SyncNet

VSHIFT = 15  # frames of offset searched either way, syncnet_python's default
WINDOW = 5  # frames per visual window (0.2 s at 25 fps)
MIN_FRAMES = VSHIFT + WINDOW  # shortest clip scored: every offset has a pair
BATCH = 64  # windows per SyncNet call


def protocol(judge_id: str, revision: str, crop_size: int) -> dict:
    """What an LSE figure depends on, stored beside it."""
    return {
        "judge": judge_id,
        "judge_revision": revision,
        "detector": "dlib HOG + 68-point landmarks (modelzoo.media.faces)",
        "crop": f"Wav2Lip face box from landmarks, {crop_size}x{crop_size} RGB, lower half",
        "offset_window": VSHIFT,
        "window_frames": WINDOW,
        "min_frames": MIN_FRAMES,
        "fps": 25,
        "distance": "euclidean between unit embeddings; off-clip pairs left out",
    }


@dataclass(frozen=True)
class SyncScore:
    lse_c: float
    lse_d: float
    offset: int
    mean_distances: np.ndarray  # (2 * VSHIFT + 1,) mean distance at offsets -VSHIFT..+VSHIFT

    def as_json(self) -> dict:
        return {"lse_c": self.lse_c, "lse_d": self.lse_d, "offset": self.offset}


def window_count(frames: int, mel: np.ndarray) -> int:
    """Windows that both streams cover: 5-frame runs whose 0.2 s of audio is in the mel."""
    n = frames - WINDOW + 1
    while n > 0 and mel_start(n - 1) + MEL_STEP > mel.shape[1]:
        n -= 1  # the audio ends before the video: windows without audio are not scored
    return max(n, 0)


@torch.inference_mode()
def video_embeddings(syncnet: SyncNet, crops: np.ndarray, count: int) -> np.ndarray:
    """(count, D) embeddings of the 5-frame windows starting at frames 0..count-1 of (T, S, S, 3)
    uint8 RGB face crops at 25 fps."""
    syncnet.eval()
    device = next(syncnet.parameters()).device
    out = [np.zeros((0, syncnet.config.width), np.float32)]
    for first in range(0, count, BATCH):
        starts = range(first, min(first + BATCH, count))
        frames = np.stack([crops[t : t + WINDOW] for t in starts])  # (B, 5, S, S, 3)
        frames = torch.from_numpy(frames).to(device).permute(0, 4, 1, 2, 3).float() / 255.0
        v = syncnet.face_encoder(SyncNet.stack_lower_half(frames)).flatten(1)
        out.append(F.normalize(v, dim=1).float().cpu().numpy())
    return np.concatenate(out)


@torch.inference_mode()
def audio_embeddings(syncnet: SyncNet, mel: np.ndarray, count: int) -> np.ndarray:
    """(count, D) embeddings of the 0.2 s mel windows starting at frames 0..count-1 of a clip's
    Wav2Lip mel (80, M)."""
    syncnet.eval()
    device = next(syncnet.parameters()).device
    out = [np.zeros((0, syncnet.config.width), np.float32)]
    for first in range(0, count, BATCH):
        starts = range(first, min(first + BATCH, count))
        mels = np.stack([mel[:, mel_start(t) : mel_start(t) + MEL_STEP] for t in starts])
        a = syncnet.audio_encoder(torch.from_numpy(mels).unsqueeze(1).to(device)).flatten(1)
        out.append(F.normalize(a, dim=1).float().cpu().numpy())
    return np.concatenate(out)


def embeddings(syncnet: SyncNet, crops: np.ndarray, mel: np.ndarray) -> tuple[np.ndarray, ...]:
    """Visual and audio embeddings of every window that both streams cover: ((N, D), (N, D))."""
    count = window_count(len(crops), mel)
    return video_embeddings(syncnet, crops, count), audio_embeddings(syncnet, mel, count)


def offset_distances(video: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(N, 2 * vshift + 1): distance of visual window i to audio window i + k - vshift, as
    syncnet_python's `calc_pdist` lays them out; NaN where that audio window is off the clip."""
    padded = np.pad(audio, ((vshift, vshift), (0, 0)), constant_values=np.nan)
    shifts = np.arange(2 * vshift + 1)
    rows = np.arange(len(video))[:, None] + shifts[None, :]  # (N, 31) indices into padded
    return np.linalg.norm(video[:, None, :] - padded[rows], axis=-1)


def sync_score(video: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> SyncScore | None:
    """LSE-C, LSE-D and offset of a clip's embeddings; None when it has too few windows."""
    if len(video) < vshift + 1:
        return None
    mean = np.nanmean(offset_distances(video, audio, vshift), axis=0)
    best = int(np.argmin(mean))
    lse_d = float(mean[best])
    return SyncScore(float(np.median(mean)) - lse_d, lse_d, vshift - best, mean)
