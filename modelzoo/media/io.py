"""Media I/O through ffmpeg: chunked RGB frames at 25 fps, audio extraction, MP4 and WAV writing.

Everything streams: frames come out of an ffmpeg pipe a chunk at a time and go into an encoder pipe
the same way, so memory stays bounded by the chunk size whatever the clip length. ffmpeg applies
rotation metadata itself when decoding (its default autorotate), and its `fps` filter turns any
frame rate, constant or variable, into 25 fps by timestamps. Audio is decoded whole (a 10-minute
clip at 16 kHz mono is 38 MB of float32).
"""

from __future__ import annotations

import fcntl
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np
import soundfile as sf

from modelzoo.errors import InvalidMediaError
from modelzoo.media.probe import INPUT_GUARD, MediaInfo, input_args, probe

FPS = 25
AUDIO_RATE = 16000
CHUNK_FRAMES = 32
CHUNK_BYTES = 64 * 2**20  # decoded bytes per chunk: 10 frames of 1080p
PIPE_BYTES = 2**20  # raw-frame pipes to and from ffmpeg: fewer wake-ups than the 64 KiB default


def frame_count(info: MediaInfo, fps: int = FPS) -> int:
    """Frames that decoding `info` at `fps` gives (1 for a still image), from its duration."""
    if not info.has_video:
        return 0
    if info.is_image:
        return 1
    return max(1, round(info.duration_s * fps))


def iter_frames(
    path: str | Path,
    *,
    fps: int = FPS,
    chunk_frames: int | None = None,
    info: MediaInfo | None = None,
) -> Iterator[np.ndarray]:
    """Decoded RGB frames as uint8 chunks of shape (T, H, W, 3), upright, at `fps`.

    A chunk holds `chunk_frames` frames (default: up to 32, fewer for large frames so that a chunk
    stays near CHUNK_BYTES); each chunk is a new array the caller may keep or modify. A still
    image gives one chunk of one frame. Raises InvalidMediaError when there is no video or ffmpeg
    cannot decode it.
    """
    path = Path(path)
    info = info or probe(path)
    if not info.has_video or not info.width or not info.height:
        raise InvalidMediaError(f"{path.name}: has no video stream")
    width, height = info.width, info.height
    frame_bytes = width * height * 3
    chunk_frames = chunk_frames or max(1, min(CHUNK_FRAMES, CHUNK_BYTES // frame_bytes))
    args = ["ffmpeg", "-nostdin", "-v", "error", *input_args(path), "-map", "0:v:0"]
    # A still image is one frame; a video is resampled to `fps` by timestamps (handles VFR).
    args += ["-frames:v", "1"] if info.is_image else ["-vf", f"fps={fps}"]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    decoded = 0
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors)
        _widen_pipe(proc.stdout)
        try:
            while True:
                chunk = np.empty((chunk_frames, height, width, 3), np.uint8)
                n = _read_into(proc.stdout, memoryview(chunk).cast("B")) // frame_bytes
                decoded += n
                if n:
                    yield chunk[:n]
                if n < chunk_frames:
                    break
            if proc.wait() != 0 or decoded == 0:
                detail = _tail(errors) if proc.returncode else "no frames in it"
                raise InvalidMediaError(f"{path.name}: the video cannot be decoded ({detail})")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def _widen_pipe(stream) -> None:
    """Grow a pipe's kernel buffer to PIPE_BYTES where the system allows (Linux); else leave it."""
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size
        pass


def _read_into(stream, buffer: memoryview) -> int:
    """Fill `buffer` from `stream` until it is full or the stream ends; bytes read."""
    total = 0
    while total < len(buffer):
        got = stream.readinto(buffer[total:])
        if not got:
            break
        total += got
    return total


def read_image(path: str | Path) -> np.ndarray:
    """A still image (PNG, JPEG, ...) or a video's first frame, upright, as (H, W, 3) uint8."""
    return next(iter_frames(path, chunk_frames=1))[0]


def audio_stream_info(path: str | Path) -> tuple[int, int]:
    """(sample_rate, channels) of the first audio stream; InvalidMediaError when there is none."""
    path = Path(path)
    try:
        streams = ffmpeg.probe(str(path), select_streams="a:0", **INPUT_GUARD)["streams"]
    except ffmpeg.Error:
        streams = []
    if not streams:
        raise InvalidMediaError(f"{path.name}: has no audio stream; audio is needed")
    return int(streams[0]["sample_rate"]), int(streams[0].get("channels") or 1)


def read_audio(
    path: str | Path,
    *,
    sample_rate: int | None = AUDIO_RATE,
    mono: bool = True,
    info: MediaInfo | None = None,
) -> np.ndarray:
    """The first audio stream as float32: (n,) when mono, else (n, channels).

    `sample_rate=None` keeps the file's own rate (use `audio_stream_info` to learn it). `info`, the
    file's probe where the caller has one, spares probing it again for mono audio at a set rate.
    """
    path = Path(path)
    if info is not None and mono and sample_rate:
        if not info.has_audio:
            raise InvalidMediaError(f"{path.name}: has no audio stream; audio is needed")
        native_rate, channels = info.sample_rate, 1
    else:
        native_rate, channels = audio_stream_info(path)
    channels = 1 if mono else channels
    args = ["ffmpeg", "-nostdin", "-v", "error", *input_args(path), "-map", "0:a:0", "-vn"]
    args += ["-ac", str(channels), "-ar", str(sample_rate or native_rate)]
    args += ["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    proc = subprocess.run(args, capture_output=True, timeout=600)
    if proc.returncode != 0:
        detail = _last_line(proc.stderr.decode(errors="replace"))
        raise InvalidMediaError(f"{path.name}: the audio cannot be decoded ({detail})")
    audio = np.frombuffer(proc.stdout, np.float32).copy()
    return audio if mono else audio.reshape(-1, channels)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16"):
    """Write (n,) or (n, channels) float audio as WAV (16-bit PCM unless `subtype` says else)."""
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype=subtype)


class VideoWriter:
    """Streams RGB frames (and optionally an audio file) into a browser-playable MP4.

    H.264 yuv420p with odd sizes cropped to even (the last row/column goes, so pixel coordinates
    are kept), AAC audio, `+faststart`. Use as a context manager; on an exception the partial file
    is removed.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        *,
        fps: int = FPS,
        audio: str | Path | None = None,
        crf: int = 20,
        preset: str = "veryfast",
    ):
        self.path, self.width, self.height = Path(path), width, height
        args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        args += ["-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0"]
        if audio is not None:
            args += [*input_args(audio), "-map", "0:v:0", "-map", "1:a:0"]
            args += ["-c:a", "aac", "-b:a", "320k"]
        args += ["-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0", "-c:v", "libx264"]
        args += ["-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        args += ["-movflags", "+faststart", str(self.path)]
        self._errors = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=self._errors)
        _widen_pipe(self._proc.stdin)
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        """Append one frame (H, W, 3) or a chunk (T, H, W, 3) of uint8 RGB."""
        frames = frames[None] if frames.ndim == 3 else frames
        if frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be uint8 (T, {self.height}, {self.width}, 3); got "
                f"{frames.dtype} {frames.shape}"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(frames).data)
        except BrokenPipeError:
            raise RuntimeError(
                f"ffmpeg stopped while encoding {self.path.name}: {_tail(self._errors)}"
            ) from None
        self.frames_written += frames.shape[0]

    def close(self) -> None:
        """Finish the file; raises RuntimeError with ffmpeg's message when encoding failed."""
        self._proc.stdin.close()
        rc = self._proc.wait()
        detail = _tail(self._errors)
        self._errors.close()
        if rc != 0:
            raise RuntimeError(f"ffmpeg failed to write {self.path.name}: {detail}")

    def abort(self) -> None:
        """Stop the encoder and remove the partial file."""
        self._proc.kill()
        self._proc.wait()
        self._errors.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class WriterThread:
    """Feeds a VideoWriter from a thread through a short queue, so that the caller prepares the
    next frames while ffmpeg takes these (pipe writes release the GIL).

    `write(frames)` hands the chunk over (do not modify it afterwards) and blocks only while
    `depth` chunks are waiting. An encoder error is raised by the next `write` or by `close`.
    Use as a context manager inside the writer's own: leaving it waits for every chunk to be
    written; after an exception, chunks still waiting are dropped.
    """

    def __init__(self, writer: VideoWriter, depth: int = 2):
        self.writer = writer
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frames := self._queue.get()) is not None:
            if self._error is None:  # after a failure, keep taking chunks so write() never hangs
                try:
                    self.writer.write(frames)
                except BaseException as err:  # noqa: BLE001  (handed to the caller's thread)
                    self._error = err

    def write(self, frames: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frames)

    def close(self) -> None:
        """Wait until every chunk is written; raise the encoder's error if there was one."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self._error = self._error or exc  # stop writing: the caller's error wins
        self._queue.put(None)
        self._thread.join()


def _tail(errors) -> str:
    errors.seek(0)
    return _last_line(errors.read().decode(errors="replace"))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no details from ffmpeg"
