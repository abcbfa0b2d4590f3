"""End-to-end pipelines for the worker, the Space and the CLI: paths in, files and progress out.

Each pipeline takes input paths and an output folder, writes its files there, reports progress as
`progress(fraction in [0, 1], short message)` and raises `modelzoo.errors.UserError` subclasses for
anything a user can fix.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelzoo.corruption.audio import add_noise
from modelzoo.corruption.params import CorruptionParams, parse_corruption_params
from modelzoo.corruption.video import apply_segments, plan_segments
from modelzoo.errors import InvalidMediaError, UserError
from modelzoo.media import io
from modelzoo.media.probe import MediaInfo, probe

Progress = Callable[[float, str], None]


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def corrupt(
    src: Path,
    params: CorruptionParams | dict | str,
    out_dir: Path,
    *,
    progress: Progress = _no_progress,
    noise_file: Path | None = None,
    occluders: Path | None = None,
) -> list[Path]:
    """Corrupt `src` as `params` say; write `out_dir/corrupted.mp4` (input with video) or
    `out_dir/corrupted.wav` (audio-only input) and return [that path].

    `noise_file` replaces the built-in babble recording; `occluders` is a folder of image + mask
    pairs for occlusion. The same seed gives the same output.
    """
    src, out_dir = Path(src), Path(out_dir)
    if not isinstance(params, CorruptionParams):
        params = parse_corruption_params(params)
    info = probe(src)
    _check_input(src, info, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    audio_rng = np.random.default_rng([params.seed, 1])
    video_rng = np.random.default_rng([params.seed, 2])
    progress(0.0, "reading audio" if info.has_audio else "reading video")
    with tempfile.TemporaryDirectory(prefix="synclab-corrupt-") as tmp:
        audio_path = None
        if not info.has_video:
            out = out_dir / "corrupted.wav"
            io.write_wav(out, *_corrupt_audio(src, params, audio_rng, noise_file, progress))
        else:
            if info.has_audio:
                # Float WAV so that the only quantisation is the AAC encoder's.
                audio_path = Path(tmp) / "audio.wav"
                audio, rate = _corrupt_audio(src, params, audio_rng, noise_file, progress)
                io.write_wav(audio_path, audio, rate, subtype="FLOAT")
                del audio
            out = out_dir / "corrupted.mp4"
            _corrupt_video(src, info, params, out, audio_path, video_rng, progress)
    progress(1.0, "done")
    return [out]


def _check_input(src: Path, info: MediaInfo, params: CorruptionParams) -> None:
    if info.is_image:
        raise InvalidMediaError(f"{src.name}: a still image cannot be corrupted; upload a video")
    if params.needs_audio and not info.has_audio:
        raise InvalidMediaError(f"{src.name}: has no audio stream; audio noise needs audio")
    if params.needs_video and not info.has_video:
        raise InvalidMediaError(f"{src.name}: has no video stream; visual corruption needs video")
    if params.video is not None and params.video.kind == "occlusion":
        raise UserError(
            "video.kind occlusion needs the face tracker (mouth landmarks), which is not "
            "available yet; choose gaussian or blur"
        )


def _corrupt_audio(
    src: Path,
    params: CorruptionParams,
    rng: np.random.Generator,
    noise_file: Path | None,
    progress: Progress,
) -> tuple[np.ndarray, int]:
    """The audio at its own rate and channels with the noise added: (samples, rate)."""
    rate, _ = io.audio_stream_info(src)
    audio = io.read_audio(src, sample_rate=None, mono=False)
    if params.audio is not None:
        progress(0.05, f"adding {params.audio.noise} noise at {params.audio.snr_db:g} dB SNR")
        audio, _ = add_noise(audio, rate, params.audio, rng, noise_file=noise_file)
    return audio, rate


def _corrupt_video(
    src: Path,
    info: MediaInfo,
    params: CorruptionParams,
    out: Path,
    audio_path: Path | None,
    rng: np.random.Generator,
    progress: Progress,
) -> None:
    total = io.frame_count(info)
    segments = []
    if params.video is not None:
        segments = plan_segments(total, params.video.kind, params.video.fraction, rng)
    done = 0
    with io.VideoWriter(out, info.width, info.height, audio=audio_path) as writer:
        for chunk in io.iter_frames(src, info=info):
            if segments:
                apply_segments(chunk, done, segments, rng)
            writer.write(chunk)
            done += chunk.shape[0]
            progress(0.2 + 0.75 * min(done / total, 1.0), f"frame {done} of about {total}")
        progress(0.97, "finishing the video file")
