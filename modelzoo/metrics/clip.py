"""Every per-clip metric that applies to one talking-face video: what `python -m modelzoo score`
prints and what `modelzoo.evaluation` averages over a corpus.

A clip is decoded once at 25 fps and tracked once (`modelzoo.media.faces`); LSE-C/LSE-D/offset
need its audio and a SyncNet judge; PSNR, SSIM, LMD and the regions they are measured on need a
reference (the real clip, same frame size); `lip_wer` needs the spoken text and a lip reader.
The protocol of each family comes with the numbers (`protocol()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelzoo.errors import InvalidMediaError, UserError
from modelzoo.media import io as media_io
from modelzoo.media.crops import face_boxes, face_crop
from modelzoo.media.faces import FaceTrack, NoFaceError, track_faces
from modelzoo.media.mel import MEL_STEP, melspectrogram
from modelzoo.media.probe import probe
from modelzoo.metrics import image, landmarks, lipreading, sync, text

FACE_SIZE = 128  # face crops for PSNR/SSIM/FID, whatever the judge reads


@dataclass
class ClipMedia:
    """A clip in memory: (T, H, W, 3) uint8 RGB frames at 25 fps, 16 kHz mono audio (None when
    there is none) and the face track (None when no frame shows a face)."""

    frames: np.ndarray
    audio: np.ndarray | None
    track: FaceTrack | None

    @classmethod
    def from_arrays(cls, frames: np.ndarray, audio: np.ndarray | None) -> ClipMedia:
        try:
            track = track_faces(frames)
        except NoFaceError:
            track = None
        return cls(frames, audio, track)

    @classmethod
    def read(cls, path: Path) -> ClipMedia:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: file not found")
        info = probe(path)
        if not info.has_video or info.is_image:
            raise InvalidMediaError(f"{path.name}: is not a video; scores need a face video")
        frames = np.concatenate(list(media_io.iter_frames(path, info=info)))
        audio = media_io.read_audio(path) if info.has_audio else None
        return cls.from_arrays(frames, audio)

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.frames.shape[1:3]


@dataclass
class Judges:
    """The models that score clips, with their ids and revisions (any may be None)."""

    syncnet: object | None = None
    syncnet_id: str = ""
    syncnet_revision: str = ""
    lip_reader: object | None = None
    lip_reader_id: str = ""
    lip_reader_revision: str = ""

    @classmethod
    def load(
        cls,
        syncnet_id: str | None = "syncnet-demo",
        lip_reader_id: str | None = "auto",
        loaded: dict | None = None,
    ):
        """Judges from the zoo; `lip_reader_id="auto"` picks `lipreading.lip_reader_id()`;
        `loaded` maps ids to models already in memory, which are used as they are."""
        loaded = loaded or {}
        from modelzoo.zoo.loading import load, load_for_inference
        from modelzoo.zoo.registry import entry, pinned_revision

        judges = cls()
        if syncnet_id:
            from modelzoo.syncnet.model import SyncNet

            judges.syncnet = loaded[syncnet_id] if syncnet_id in loaded else load(syncnet_id)
            if not isinstance(judges.syncnet, SyncNet):
                raise UserError(f"--syncnet: {syncnet_id} is not a SyncNet model")
            judges.syncnet_id = syncnet_id
            judges.syncnet_revision = pinned_revision(entry(syncnet_id))
        if lip_reader_id == "auto":
            lip_reader_id = lipreading.lip_reader_id()
        if lip_reader_id:
            judges.lip_reader = (
                loaded[lip_reader_id]
                if lip_reader_id in loaded
                else load_for_inference(lip_reader_id)
            )
            judges.lip_reader_id = lip_reader_id
            judges.lip_reader_revision = pinned_revision(entry(lip_reader_id))
        return judges

    def protocol(self) -> dict:
        out = {
            "text": text.PROTOCOL,
            "landmarks": landmarks.PROTOCOL,
            "image": image.PROTOCOL,
        }
        if self.syncnet is not None:
            size = self.syncnet.config.img_size
            out["sync"] = sync.protocol(self.syncnet_id, self.syncnet_revision, size)
        if self.lip_reader is not None:
            out["lipreading"] = lipreading.protocol(self.lip_reader_id, self.lip_reader_revision)
        return out


def face_crops_of(clip: ClipMedia, track: FaceTrack, size: int) -> np.ndarray:
    """(T, size, size, 3) Wav2Lip face crops of the clip's frames along `track`."""
    boxes = face_boxes(track.filled(), track.frame_size)
    count = min(len(clip.frames), len(boxes))
    return np.stack([face_crop(clip.frames[i], boxes[i], size) for i in range(count)])


def sync_metrics(clip: ClipMedia, judges: Judges, track: FaceTrack | None) -> dict:
    """lse_c, lse_d, offset of the face along `track` (None each without a track, audio or
    enough frames)."""
    empty = {"lse_c": None, "lse_d": None, "offset": None}
    if judges.syncnet is None or track is None or clip.audio is None:
        return empty
    mel = melspectrogram(clip.audio)
    if mel.shape[1] < MEL_STEP:
        return empty
    crops = face_crops_of(clip, track, judges.syncnet.config.img_size)
    score = sync.sync_score(*sync.embeddings(judges.syncnet, crops, mel))
    return empty if score is None else score.as_json()


def reference_metrics(clip: ClipMedia, reference: ClipMedia) -> dict:
    """psnr, ssim (face), psnr_mouth, ssim_mouth, lmd against the real clip, frame by frame."""
    if reference.track is None:
        raise NoFaceError("no face found in the reference video: it cannot anchor the regions")
    if clip.frame_size != reference.frame_size:
        raise InvalidMediaError(
            f"the video is {clip.frame_size[1]}x{clip.frame_size[0]} but the reference is "
            f"{reference.frame_size[1]}x{reference.frame_size[0]}; they must match"
        )
    count = min(len(clip.frames), len(reference.frames))
    boxes = face_boxes(reference.track.filled(), reference.frame_size)
    points = reference.track.filled()
    quality = image.QualityAccumulator()
    for i in range(count):
        real, fake = reference.frames[i], clip.frames[i]
        x1, y1, x2, y2 = image.mouth_box(points[i], reference.frame_size)
        quality.add(
            face_crop(real, boxes[i], FACE_SIZE),
            face_crop(fake, boxes[i], FACE_SIZE),
            real[y1:y2, x1:x2],
            fake[y1:y2, x1:x2],
        )
    out = quality.means()
    lmd, used = None, 0
    if clip.track is not None:
        lmd, used = landmarks.mouth_distance(reference.track.raw, clip.track.raw)
    out.update(lmd=lmd, lmd_frames=used)
    return out


def mouth_sharpness(clip: ClipMedia, track: FaceTrack | None) -> float | None:
    """Mean variance of the Laplacian over the mouth regions along `track`; None without one."""
    if track is None:
        return None
    points = track.filled()
    values = []
    for frame, face in zip(clip.frames, points, strict=False):
        x1, y1, x2, y2 = image.mouth_box(face, clip.frame_size)
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            values.append(image.sharpness(frame[y1:y2, x1:x2]))
    return float(np.mean(values)) if values else None


def lip_metrics(clip: ClipMedia, judges: Judges, spoken: str, track: FaceTrack | None) -> dict:
    """lip_wer and lip_text: what the lip reader reads from the frames alone, against `spoken`."""
    if judges.lip_reader is None:
        return {"lip_wer": None, "lip_text": None}
    video, _ = lipreading.mouth_input(clip.frames, track)
    read = ""
    if video is not None:
        from modelzoo.avrelscore.inference import ClipInputs

        read, _ = lipreading.decode(judges.lip_reader, ClipInputs(video, None, len(video)))
    return {"lip_wer": text.word_error_rate(spoken, read), "lip_text": read}


def score_clip(
    clip: ClipMedia,
    judges: Judges,
    *,
    reference: ClipMedia | None = None,
    spoken: str | None = None,
) -> dict:
    """Every metric that applies, as one flat dict of numbers (None where a metric failed).

    `face_frames` counts the frames where the tracker found a face in this video. Where it found
    none at all (a generator that paints over the mouth can hide the face from the detector) and
    a reference is given, the sync, sharpness and lip-reading crops are cut along the reference's
    track, which a generator driven by the reference's frames shares, and `regions` says so.
    """
    out = {"frames": len(clip.frames), "face_frames": 0, "regions": "own track"}
    track = clip.track
    if track is not None:
        out["face_frames"] = int(track.has_face.sum())
    elif reference is not None and reference.track is not None:
        track, out["regions"] = _fitted(reference.track, len(clip.frames)), "reference track"
    out.update(sync_metrics(clip, judges, track))
    out["sharpness"] = mouth_sharpness(clip, track)
    if reference is not None:
        out.update(reference_metrics(clip, reference))
    if spoken is not None:
        out.update(lip_metrics(clip, judges, spoken, track))
    return out


def _fitted(track: FaceTrack, count: int) -> FaceTrack:
    """`track` cut or extended (its last frame held) to `count` frames."""
    index = np.minimum(np.arange(count), len(track) - 1)
    gaps = [(a, min(b, count)) for a, b in track.gaps if a < count]
    return FaceTrack(
        track.landmarks[index], track.raw[index], track.interpolated[index], gaps, track.frame_size
    )
