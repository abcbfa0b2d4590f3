"""Talking-face generation with Audio-Lip Memory (SyncTalkFace) or CALS: a face video or photo and
speech (an audio file, or text spoken by espeak-ng) in, an MP4 with the lower face redrawn out.

The flow is Wav2Lip's `inference.py` (Rudrabha/Wav2Lip), which SyncTalkFace keeps (papers.md
Sec. 2.5): track the face, cut padded and smoothed 128x128 boxes, mask the lower half, give the same
frame as the reference, one mel window per output frame, paste the generated face back. It differs
in these ways, each on purpose:
- a face video shorter than the audio plays forwards then backwards (Wav2Lip wraps to the start,
  which makes the head jump);
- the mel window of frame k starts at frame k - 1, as the training windows are cut
  (`media.mel.segmented_mels`, Wav2Lip's `get_segmented_mels`), clamped into the audio at both ends,
  rather than at frame k as Wav2Lip's inference cuts it;
- pixels are RGB, as `modelzoo.alm.data` trains on (the authors' code used BGR);
- frames stream through in chunks of about two seconds, so memory does not grow with the clip; a
  looped face video is kept in a temporary file on disk, not in memory;
- only the lower face, as the landmarks outline it, is blended back, colour-matched to the frame
  (`media.pasteback`), and frames where the tracker lost the face keep their original pixels;
- encoding runs in a thread beside generation, and on a CPU the generator leaves one core to it.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelzoo.alm.model import AudioLipMemoryModel
from modelzoo.cals.model import CALSModel
from modelzoo.errors import InvalidMediaError, InvalidParamsError, UserError
from modelzoo.media import io
from modelzoo.media.crops import face_boxes, face_crop
from modelzoo.media.faces import FaceTracker, NoFaceError
from modelzoo.media.mel import MEL_STEP, SAMPLES_PER_FRAME, mel_start, melspectrogram
from modelzoo.media.pasteback import lower_face_mask, paste_back
from modelzoo.media.probe import MediaInfo, probe
from modelzoo.media.tts import speak
from modelzoo.pipelines.limits import MAX_BATCH_SIZE

Progress = Callable[[float, str], None]
CHUNK_BYTES = 256 * 2**20  # full-resolution frames held at once; caps chunk_seconds on 4K input
# Progress shares of the stages: speech, face tracking, generation; the rest is the encoder's.
TRACK_START, GENERATE_START, GENERATE_END = 0.05, 0.3, 0.97
# x264 preset of the output: superfast takes 30% less CPU than veryfast for about twice the bytes
# (2 MB for 10 s of 720p at CRF 20), which keeps encoding from holding back generation.
PRESET = "superfast"


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def generate(
    model,
    face: Path,
    audio: Path | None,
    out: Path,
    *,
    text: str | None = None,
    voice: str = "en-us",
    batch_size: int = 16,
    chunk_seconds: float = 2.0,
    info: MediaInfo | None = None,
    audio_info: MediaInfo | None = None,
    progress: Progress = _no_progress,
) -> Path:
    """Lip-sync the face in `face` (video or photo) to `audio` (any audio file) or to `text`
    spoken by espeak-ng in `voice` (exactly one of the two).

    Writes `out`: H.264 yuv420p at 25 fps in the face input's resolution, with the speech as AAC,
    as long as the speech (to within a frame). `info` and `audio_info` are the face's and the
    audio's probes when the caller has them already (a job's, taken at upload), so that neither
    file is probed again. Puts `model` in eval mode. Raises NoFaceError when no
    face is found, InvalidMediaError for unusable files.
    """
    adapter = _adapter_class(model)
    if audio is None and text is None:
        raise InvalidParamsError(
            "generate needs speech: upload an audio file or give params 'text'"
        )
    if audio is not None and text is not None:
        raise InvalidParamsError("params: 'text' was given with an audio file; give one of them")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise InvalidParamsError(
            f"batch size {batch_size!r} must be an integer from 1 to {MAX_BATCH_SIZE}"
        )
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    face, out = Path(face), Path(out)
    info = info or probe(face)
    if not info.has_video or not info.width or not info.height:
        raise InvalidMediaError(f"{face.name}: has no picture; give a face video or photo")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".generate-") as tmp:
        speech = _speech(audio, text, voice, Path(tmp), progress, audio_info)
        # 16 kHz mono, whatever the file's rate and channels
        wav = io.read_audio(speech, info=audio_info if speech == audio else None)
        n_frames = math.ceil(len(wav) / SAMPLES_PER_FRAME)
        mel = melspectrogram(wav)
        if mel.shape[1] < MEL_STEP:
            raise InvalidMediaError(f"{speech.name}: the speech is shorter than 0.2 s")
        source = _track(face, info, n_frames, Path(tmp), progress)
        frames_of = adapter(model, mel, n_frames)
        with torch.inference_mode():
            _write(source, frames_of, n_frames, out, speech, batch_size, chunk_seconds, progress)
    progress(1.0, "done")
    return out


def _speech(audio, text, voice, tmp: Path, progress: Progress, info: MediaInfo | None) -> Path:
    """The speech file: `audio` itself, or `text` spoken into a WAV in `tmp`."""
    if text is not None:
        progress(0.0, "speaking the text")
        return speak(text, tmp / "speech.wav", voice=voice)
    progress(0.0, "reading the audio")
    if info is None:
        io.audio_stream_info(audio)  # InvalidMediaError naming the file when it has no audio
    elif not info.has_audio:
        raise InvalidMediaError(f"{Path(audio).name}: has no audio stream; audio is needed")
    return Path(audio)


# Generator adapters: per-architecture conditioning for a batch of consecutive output frames.


def frame_windows(mel: np.ndarray, first: int, count: int, n_frames: int):
    """Mel windows of output frames first..first+count-1: ((count, 1, 80, 16), (count,) valid).

    Frame k's window starts at frame k - 1 (the training windows' indexing), clamped into the mel;
    frames outside 0..n_frames-1 are not valid and get zeros, as off-clip tokens in training do.
    """
    frames = np.arange(first, first + count)
    valid = (frames >= 0) & (frames < n_frames)
    starts = np.array([mel_start(k - 1) for k in frames]).clip(0, mel.shape[1] - MEL_STEP)
    windows = mel[:, starts[:, None] + np.arange(MEL_STEP)].transpose(1, 0, 2)  # (count, 80, 16)
    windows[~valid] = 0
    return torch.from_numpy(windows).unsqueeze(1), torch.from_numpy(valid)


class ALMFrames:
    """Audio-Lip Memory: each frame's own mel window through the key path (no lip input)."""

    def __init__(self, model: AudioLipMemoryModel, mel: np.ndarray, n_frames: int):
        self.model, self.mel, self.n_frames = model, mel, n_frames

    def __call__(self, faces: torch.Tensor, first: int) -> torch.Tensor:
        """(N, 6, S, S) inputs of frames first..first+N-1 -> (N, 3, S, S) in [-1, 1]."""
        mels, _ = frame_windows(self.mel, first, len(faces), self.n_frames)
        return self.model.generate(mels.to(faces.device), faces)


class CALSFrames:
    """CALS: the audio tokens of frames first-W .. last+W, read by A2L as +-W windows."""

    def __init__(self, model: CALSModel, mel: np.ndarray, n_frames: int):
        self.model, self.mel, self.n_frames = model, mel, n_frames

    def __call__(self, faces: torch.Tensor, first: int) -> torch.Tensor:
        w = self.model.config.context
        mels, valid = frame_windows(self.mel, first - w, len(faces) + 2 * w, self.n_frames)
        windowed = faces.transpose(0, 1).unsqueeze(0)  # (1, 6, N, S, S): the batch is one run
        device = faces.device
        out = self.model(windowed, mels.unsqueeze(0).to(device), valid.unsqueeze(0).to(device))
        return out[0].transpose(0, 1)  # (N, 3, S, S)


ADAPTERS = ((CALSModel, CALSFrames), (AudioLipMemoryModel, ALMFrames))


def _adapter_class(model):
    for cls, adapter in ADAPTERS:
        if isinstance(model, cls):
            return adapter
    raise UserError(f"{type(model).__name__} does not generate faces; choose an alm or cals model")


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err)
    )


class HalvingBatches:
    """Runs frames through a generator `batch_size` at a time; on out-of-memory the batch size
    halves (and stays halved for later chunks) and the batch is retried."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def run(self, generator: Callable, inputs: torch.Tensor, first: int) -> torch.Tensor:
        """(N, ...) inputs of frames first..first+N-1 -> the generator's outputs, on the CPU."""
        outputs, done = [], 0
        while done < len(inputs):
            size = min(self.batch_size, len(inputs) - done)
            try:
                outputs.append(generator(inputs[done : done + size], first + done).cpu())
            except RuntimeError as err:
                if size == 1 or not is_out_of_memory(err):
                    raise
                self.batch_size = size // 2
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()  # give the failed batch's blocks back first
                continue
            done += size
        return torch.cat(outputs)


# Face input: tracking, and the frames in output order.


@dataclass
class FaceSource:
    """The face input's first `count` frames with their face boxes.

    `looped` holds all of them (a disk-backed array) when the output is longer than the input;
    then output frame i shows input frame `ping_pong(i, count)`. Otherwise frames are decoded
    again, in order, while generating.
    """

    path: Path
    info: MediaInfo
    count: int
    boxes: np.ndarray  # (count, 4) int (x1, y1, x2, y2)
    landmarks: np.ndarray  # (count, 68, 2) float32, gaps bridged: where the paste-back mask goes
    has_face: np.ndarray  # (count,) bool
    looped: np.ndarray | None

    def chunks(self, n_frames: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frames (k, H, W, 3) uint8, their input indices (k,)) for output frames in order."""
        if self.looped is not None:
            for first in range(0, n_frames, chunk):
                indices = ping_pong(np.arange(first, min(first + chunk, n_frames)), self.count)
                yield np.array(self.looped[indices]), indices
            return
        done = 0
        for frames in io.iter_frames(self.path, info=self.info, chunk_frames=chunk):
            frames = frames[: n_frames - done]
            yield frames, np.arange(done, done + len(frames))
            done += len(frames)
            if done == n_frames:
                break


def ping_pong(i: np.ndarray, count: int) -> np.ndarray:
    """Input frame shown at output frame i: 0, 1, .., count-1, count-2, .., 1, 0, 1, .."""
    if count == 1:
        return np.zeros_like(i)
    period = 2 * count - 2
    phase = i % period
    return np.where(phase < count, phase, period - phase)


def _track(face: Path, info: MediaInfo, n_frames: int, tmp: Path, progress) -> FaceSource:
    """Track the face through the input frames that the output shows (one decoding pass).

    When the input looks shorter than the output, its frames are also kept on disk for looping.
    """
    tracker = FaceTracker(name=face.name)
    expected = min(io.frame_count(info), n_frames)
    spill = _Spill(face, info, tmp) if io.frame_count(info) <= n_frames else None
    seen = 0
    progress(TRACK_START, "finding the face")
    for chunk in io.iter_frames(face, info=info):
        chunk = chunk[: n_frames - seen]
        for frame in chunk:
            tracker.update(frame)
        if spill is not None:
            spill.write(chunk)
        seen += len(chunk)
        share = min(seen / max(expected, 1), 1.0)
        progress(
            TRACK_START + (GENERATE_START - TRACK_START) * share,
            f"finding the face: frame {seen} of {expected}",
        )
        if seen == n_frames:
            break
    track = _face_track(tracker, face, info)
    looped = None
    if seen < n_frames:
        if spill is None:  # the duration promised more frames than there were
            spill = _Spill(face, info, tmp)
            for chunk in io.iter_frames(face, info=info):
                spill.write(chunk[: seen - spill.count])
        looped = spill.array(seen)
    landmarks = track.filled()
    boxes = face_boxes(landmarks, track.frame_size)
    return FaceSource(face, info, seen, boxes, landmarks, track.has_face, looped)


def _face_track(tracker: FaceTracker, face: Path, info: MediaInfo):
    try:
        return tracker.result()
    except NoFaceError:
        where = "the photo" if info.is_image else f"any of the {len(tracker)} frames used"
        raise NoFaceError(
            f"no face found in {where} of {face.name}: use one with a clearly visible face "
            "looking roughly at the camera"
        ) from None


class _Spill:
    """Decoded frames appended to a raw file in `tmp`, read back as a memory-mapped array."""

    def __init__(self, face: Path, info: MediaInfo, tmp: Path):
        self.shape = (info.height, info.width, 3)
        needed = io.frame_count(info) * math.prod(self.shape)
        if needed > shutil.disk_usage(tmp).free:
            raise UserError(
                f"{face.name}: looping this video needs {needed / 2**30:.1f} GiB of temporary "
                "disk space, which is not free; use a shorter face video or a longer one"
            )
        self.path, self.count = tmp / "face-frames.raw", 0
        self._file = open(self.path, "wb")  # closed by array(), once every frame is in

    def write(self, frames: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(frames).data)
        self.count += len(frames)

    def array(self, count: int) -> np.ndarray:
        self._file.close()
        return np.memmap(self.path, np.uint8, "r", shape=(count, *self.shape))


# Generation and encoding.


def _write(source, frames_of, n_frames, out, speech, batch_size, chunk_seconds, progress):
    """Generate, paste back and encode output frames a chunk at a time.

    The encoder is fed from its own thread, so ffmpeg compresses one chunk while the next is
    generated; on a CPU the generator leaves a core to that work (see `_cores_for_generator`).
    """
    size = frames_of.model.config.img_size
    device = next(frames_of.model.parameters()).device
    frame_bytes = source.info.width * source.info.height * 3
    chunk = max(1, min(round(chunk_seconds * io.FPS), CHUNK_BYTES // frame_bytes))
    batches, done = HalvingBatches(batch_size), 0
    mask_of, mask = None, None  # the input frame whose paste-back mask is in `mask`
    width, height = source.info.width, source.info.height
    with (
        _cores_for_generator(device),
        io.VideoWriter(out, width, height, audio=speech, preset=PRESET) as encoder,
        io.WriterThread(encoder) as writer,
    ):
        for frames, indices in source.chunks(n_frames, chunk):
            boxes = source.boxes[indices]
            crops = np.stack([face_crop(f, b, size) for f, b in zip(frames, boxes, strict=True)])
            generated = to_pixels(batches.run(frames_of, model_inputs(crops).to(device), done))
            for j, index in enumerate(indices):
                if not source.has_face[index]:
                    continue
                if index != mask_of:  # a photo, or a looped video's frame, keeps its mask
                    mask_of, mask = index, lower_face_mask(source.landmarks[index], boxes[j])
                paste_back(frames[j], generated[j], boxes[j], mask, out=frames[j])
            writer.write(frames)
            done += len(frames)
            share = done / n_frames
            progress(
                GENERATE_START + (GENERATE_END - GENERATE_START) * share,
                f"generating: frame {done} of {n_frames} (batch {batches.batch_size})",
            )
        progress(GENERATE_END, "finishing the video file")


@contextlib.contextmanager
def _cores_for_generator(device: torch.device) -> Iterator[None]:
    """On a CPU, torch's threads for the generator: all cores but one, which is left to the work
    that runs beside it (decoding, paste-back, the encoder). On two cores one busy generator
    thread makes more frames per second than two that keep waiting for each other."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, max(1, len(os.sched_getaffinity(0)) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def model_inputs(crops: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 face crops -> (N, 6, S, S) in [-1, 1]: lower-half-masked target, then
    the same frame unmasked as the identity reference."""
    faces = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (N, 3, S, S)
    masked = faces.clone()
    masked[:, :, faces.size(2) // 2 :] = 0
    return torch.cat([masked, faces], dim=1)


def to_pixels(frames: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, S, S, 3) uint8."""
    pixels = ((frames.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()
