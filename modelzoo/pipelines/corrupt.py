"""The corruption pipeline: a video or audio file and typed CorruptionParams in; the corrupted
file and corruption.json (what was corrupted, and where) out."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from modelzoo.corruption import occlusion
from modelzoo.corruption.audio import add_noise_where
from modelzoo.corruption.params import CorruptionParams
from modelzoo.corruption.video import apply_segments, plan_segments
from modelzoo.errors import InvalidMediaError
from modelzoo.media import io
from modelzoo.media.probe import MediaInfo, probe

Progress = Callable[[float, str], None]
# Corrupts a chunk of frames in place, given the clip index of its first frame.
FrameCorruption = Callable[[np.ndarray, int], np.ndarray] | None


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def corrupt(
    src: Path,
    params: CorruptionParams,
    out_dir: Path,
    *,
    info: MediaInfo | None = None,
    progress: Progress = _no_progress,
    noise_file: Path | None = None,
    occluders: Path | None = None,
) -> list[Path]:
    """Corrupt `src` as `params` say; write `out_dir/corrupted.mp4` (input with video) or
    `out_dir/corrupted.wav` (audio-only input), and `out_dir/corruption.json`, where the
    corruption is (see `_write_stretches`); return [media, that JSON].

    `noise_file` replaces the built-in babble recording; `occluders` is a folder of image + mask
    pairs for occlusion. `info` is `src`'s probe when the caller has one already (a job's, taken
    when the file was uploaded). The same seed gives the same output.
    """
    src, out_dir = Path(src), Path(out_dir)
    info = info or probe(src)
    _check_input(src, info, params)
    patches = None
    if params.video is not None and params.video.kind == "occlusion":
        # Read the occluders first: a bad folder should fail before any decoding.
        patches = (
            occlusion.load_occluders(occluders) if occluders else occlusion.default_occluders()
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    audio_rng = np.random.default_rng([params.seed, 1])
    video_rng = np.random.default_rng([params.seed, 2])
    progress(0.0, "reading audio" if info.has_audio else "reading video")
    noisy_seconds, video_frames = [], []
    with tempfile.TemporaryDirectory(prefix="synclab-corrupt-") as tmp:
        audio_path = None
        if not info.has_video:
            out = out_dir / "corrupted.wav"
            audio, rate, noisy_seconds = _corrupt_audio(
                src, params, audio_rng, noise_file, progress
            )
            io.write_wav(out, audio, rate)
        else:
            if info.has_audio:
                # Float WAV so that the only quantisation is the AAC encoder's.
                audio_path = Path(tmp) / "audio.wav"
                audio, rate, noisy_seconds = _corrupt_audio(
                    src, params, audio_rng, noise_file, progress
                )
                io.write_wav(audio_path, audio, rate, subtype="FLOAT")
                del audio
            out = out_dir / "corrupted.mp4"
            corrupt_frames, total, video_frames = _frame_corruption(
                src, info, params, video_rng, patches, progress
            )
            _write_video(src, info, out, audio_path, corrupt_frames, total, progress)
    stretches = _write_stretches(out_dir / "corruption.json", params, noisy_seconds, video_frames)
    progress(1.0, "done")
    return [out, stretches]


def _write_stretches(
    path: Path,
    params: CorruptionParams,
    noisy_seconds: list[tuple[float, float]],
    video_frames: list[tuple[int, int]],
) -> Path:
    """corruption.json: what was done and where, so a transcript's reliability plot can shade it.

    `audio_stretches_s` lists the [start_s, stop_s) stretches that carry noise, `video_frames`
    the [start, stop) ranges of frames (25 fps, as decoded here) that were corrupted; `audio` and
    `video` repeat the settings (null for a stream left alone).
    """
    summary = {
        "fps": io.FPS,
        "audio": {"noise": params.audio.noise, "snr_db": params.audio.snr_db}
        if params.audio
        else None,
        "video": {"kind": params.video.kind, "fraction": params.video.fraction}
        if params.video
        else None,
        "audio_stretches_s": [[round(a, 3), round(b, 3)] for a, b in noisy_seconds],
        "video_frames": [list(span) for span in video_frames],
    }
    path.write_text(json.dumps(summary) + "\n")
    return path


def _check_input(src: Path, info: MediaInfo, params: CorruptionParams) -> None:
    if info.is_image:
        raise InvalidMediaError(f"{src.name}: a still image cannot be corrupted; upload a video")
    if params.needs_audio and not info.has_audio:
        raise InvalidMediaError(f"{src.name}: has no audio stream; audio noise needs audio")
    if params.needs_video and not info.has_video:
        raise InvalidMediaError(f"{src.name}: has no video stream; visual corruption needs video")


def _corrupt_audio(
    src: Path,
    params: CorruptionParams,
    rng: np.random.Generator,
    noise_file: Path | None,
    progress: Progress,
) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """The audio at its own rate and channels with the noise added: (samples, rate, [start_s,
    stop_s) stretches that carry noise)."""
    rate, _ = io.audio_stream_info(src)
    audio = io.read_audio(src, sample_rate=None, mono=False)
    if params.audio is None:
        return audio, rate, []
    progress(0.05, f"adding {params.audio.noise} noise at {params.audio.snr_db:g} dB SNR")
    audio, _, noisy = add_noise_where(audio, rate, params.audio, rng, noise_file=noise_file)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], noisy.astype(np.int8), [0]])))
    return audio, rate, [(start / rate, stop / rate) for start, stop in edges.reshape(-1, 2)]


def _frame_corruption(
    src: Path,
    info: MediaInfo,
    params: CorruptionParams,
    rng: np.random.Generator,
    patches: Sequence[occlusion.Occluder] | None,
    progress: Progress,
) -> tuple[FrameCorruption, int, list[tuple[int, int]]]:
    """The per-chunk corruption the params ask for (None for none), the clip's frame count and
    the [start, stop) frame ranges it corrupts.

    Occlusion first tracks the face through the whole clip (a first decoding pass), since the
    patches follow the mouth landmarks.
    """
    total = io.frame_count(info)
    video = params.video
    if video is None:
        return None, total, []
    if video.kind != "occlusion":
        segments = plan_segments(total, video.kind, video.fraction, rng)
        spans = [(segment.start, segment.stop) for segment in segments]
        return lambda chunk, first: apply_segments(chunk, first, segments, rng), total, spans
    from modelzoo.media.faces import track_faces  # dlib loads only when occlusion is asked

    chunks = _reporting(
        io.iter_frames(src, info=info), total, progress, 0.1, 0.5, "finding the face"
    )
    landmarks = track_faces(chunks, name=src.name).landmarks
    segments = occlusion.plan_occlusion(landmarks, video.fraction, rng, patches)
    progress(0.5, "face found; occluding the mouth")

    def occlude(chunk: np.ndarray, first: int) -> np.ndarray:
        return occlusion.apply_occlusion(chunk, first, segments, landmarks)

    return occlude, len(landmarks), [(segment.start, segment.stop) for segment in segments]


def _write_video(
    src: Path,
    info: MediaInfo,
    out: Path,
    audio_path: Path | None,
    corrupt_frames: FrameCorruption,
    total: int,
    progress: Progress,
) -> None:
    """Decode, corrupt and encode chunk by chunk, reporting progress from 0.5 to 0.95."""
    done = 0
    chunks = _reporting(io.iter_frames(src, info=info), total, progress, 0.5, 0.95, "writing")
    with io.VideoWriter(out, info.width, info.height, audio=audio_path) as writer:
        for chunk in chunks:
            if corrupt_frames is not None:
                corrupt_frames(chunk, done)
            writer.write(chunk)
            done += chunk.shape[0]
        progress(0.97, "finishing the video file")


def _reporting(
    chunks: Iterator[np.ndarray], total: int, progress: Progress, lo: float, hi: float, what: str
) -> Iterator[np.ndarray]:
    """Pass chunks through, reporting progress from `lo` to `hi` as frames go by."""
    done = 0
    for chunk in chunks:
        yield chunk
        done += chunk.shape[0]
        progress(
            lo + (hi - lo) * min(done / max(total, 1), 1.0), f"{what}: frame {done} of {total}"
        )
