"""Media probing and upload validation with ffprobe: the checks every file passes before a job."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import ffmpeg

from modelzoo.errors import InvalidMediaError

IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe"}
# The demuxers ffmpeg may use on an upload: single-file containers only. Playlists (hls, concat,
# ffconcat), network protocols and the like would let a file make ffmpeg read other files.
DEMUXERS = (
    "mov",  # mp4, m4a, mov, 3gp
    "matroska",  # mkv, webm
    "avi",
    "wav",
    "mp3",
    "ogg",
    "flac",
    "aac",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
    # Some JPEGs are only recognised by their extension. Without a %d pattern in the name (the
    # site names every stored file itself) image2 reads that one file.
    "image2",
)
ACCEPTED = (
    "MP4, MOV, MKV, WebM, AVI, WAV, MP3, M4A, OGG, FLAC, AAC or a PNG, JPEG, WebP or BMP image"
)
# ffmpeg input options that open a path as one local file in one of DEMUXERS.
INPUT_GUARD = {"protocol_whitelist": "file", "format_whitelist": ",".join(DEMUXERS)}


def input_args(path: str | Path) -> list[str]:
    """`-i path` for ffmpeg with INPUT_GUARD: the file itself, in an accepted container."""
    options = [arg for key, value in INPUT_GUARD.items() for arg in (f"-{key}", value)]
    return [*options, "-i", str(path)]


@dataclass(frozen=True)
class MediaLimits:
    """Upload limits; the site reads them from settings, the CLI uses these defaults."""

    max_bytes: int = 500 * 2**20
    max_duration_s: float = 600.0
    min_duration_s: float = 0.2
    max_width: int = 3840
    max_height: int = 3840
    min_side: int = 32


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format_name: str
    size_bytes: int
    duration_s: float
    has_video: bool
    has_audio: bool
    is_image: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int = 0
    sample_rate: int | None = None
    # One summary per stream in file order (see `_stream_summary`); left out of equality and hash.
    streams: tuple[dict, ...] = field(default=(), compare=False)

    def as_json(self) -> dict:
        facts = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        facts["streams"] = [dict(s) for s in self.streams]
        return facts

    @classmethod
    def from_json(cls, facts: dict) -> MediaInfo:
        """The MediaInfo that `as_json` wrote, as it was: a stored probe, not probed again."""
        return cls(**{**facts, "path": Path(facts["path"]), "streams": tuple(facts["streams"])})


def size_text(size: int) -> str:
    """A byte count as people read it, exact: "200 MiB", or "209,715,201 bytes" when not whole."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} byte" + ("" if size == 1 else "s")


def probe(path: str | Path) -> MediaInfo:
    """Read container and stream facts; InvalidMediaError names the file when it is not media."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InvalidMediaError(f"{name}: file not found")
    size = path.stat().st_size
    if size == 0:
        raise InvalidMediaError(f"{name}: the file is empty (0 bytes)")
    try:
        info = ffmpeg.probe(str(path), **INPUT_GUARD)
    except ffmpeg.Error as err:
        stderr = (err.stderr or b"").decode(errors="replace")
        refused = re.search(r"\[(\w+) @ [^\]]*\] Format not on whitelist", stderr)
        if refused:
            raise InvalidMediaError(
                f"{name}: is a '{refused.group(1)}' file, which is not accepted; upload {ACCEPTED}"
            ) from None
        raise InvalidMediaError(
            f"{name}: not a readable audio, video or image file ({_last_line(stderr)})"
        ) from None
    fmt = info.get("format", {})
    streams = info.get("streams", [])
    # Cover art in audio files is a video stream with attached_pic set; it is not a video track.
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    format_name = fmt.get("format_name", "")
    is_image = (
        bool(video)
        and not audio
        and (
            format_name in IMAGE_FORMATS
            or video[0].get("codec_name") in {"png", "mjpeg", "webp", "bmp"}
            and _frame_count(video[0]) <= 1
        )
    )
    duration = _duration(fmt, video + audio)
    width = height = fps = None
    rotation = 0
    if video:
        v = video[0]
        width, height = int(v.get("width") or 0), int(v.get("height") or 0)
        rotation = _rotation(v)
        if rotation % 180:
            width, height = height, width
        rate = v.get("avg_frame_rate") or v.get("r_frame_rate") or "0/1"
        fps = float(Fraction(rate)) if rate not in ("0/0", "") else None
    sample_rate = int(audio[0]["sample_rate"]) if audio and audio[0].get("sample_rate") else None
    return MediaInfo(
        path=path,
        format_name=format_name,
        size_bytes=size,
        duration_s=duration,
        has_video=bool(video),
        has_audio=bool(audio),
        is_image=is_image,
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        sample_rate=sample_rate,
        streams=tuple(_stream_summary(s) for s in streams),
    )


def validate(
    path: str | Path,
    *,
    label: str | None = None,
    need_video: bool = False,
    need_audio: bool = False,
    allow_image: bool = False,
    limits: MediaLimits = MediaLimits(),
    info: MediaInfo | None = None,
) -> MediaInfo:
    """Probe `path` and check it against what a job needs; each failure names the file and problem.

    `label` is the name shown in messages (the upload's name): the file on disk may be a temp file.
    `info` is the probe of `path` when the caller already took it, so it is not taken again.
    """
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size if path.is_file() else 0
    if size > limits.max_bytes:
        raise InvalidMediaError(
            f"{label}: the file is {size_text(size)}; the limit is {size_text(limits.max_bytes)}"
        )
    try:
        info = info if info is not None else probe(path)
    except InvalidMediaError as err:
        raise InvalidMediaError(_scrub(str(err), path, label)) from None
    if info.is_image and not allow_image:
        raise InvalidMediaError(
            f"{label}: a still image is not accepted here; upload a video or audio file"
        )
    if need_video and not info.has_video:
        raise InvalidMediaError(f"{label}: has no video stream; a video is needed")
    if need_audio and not info.has_audio:
        raise InvalidMediaError(f"{label}: has no audio stream; audio is needed")
    if not info.has_video and not info.has_audio:
        raise InvalidMediaError(f"{label}: has neither an audio nor a video stream")
    if info.has_video:
        w, h = info.width or 0, info.height or 0
        if info.is_image:
            # Read from the header, never decoded: ffprobe gives 0x0 for a size it will not decode.
            w, h = declared_image_size(path) or (w, h)
        if min(w, h) < limits.min_side:
            raise InvalidMediaError(
                f"{label}: {w}x{h} is too small; each side must be at least {limits.min_side} px"
            )
        if w > limits.max_width or h > limits.max_height:
            raise InvalidMediaError(
                f"{label}: {w}x{h} is too large; "
                f"the limit is {limits.max_width}x{limits.max_height}"
            )
    if not info.is_image:
        if info.duration_s > limits.max_duration_s:
            seconds, limit = _distinct(info.duration_s, limits.max_duration_s)
            raise InvalidMediaError(f"{label}: {seconds} s is too long; the limit is {limit} s")
        if info.duration_s < limits.min_duration_s:
            raise InvalidMediaError(
                f"{label}: {info.duration_s:.2f} s is too short; "
                f"at least {limits.min_duration_s} s is needed"
            )
        demuxed = _demuxed_seconds(path, cap_s=limits.max_duration_s + 1)
        if demuxed > limits.max_duration_s:
            seconds, limit = _distinct(demuxed, limits.max_duration_s)
            raise InvalidMediaError(
                f"{label}: holds at least {seconds} s of media although its header says "
                f"{info.duration_s:.1f} s; the limit is {limit} s"
            )
        _check_decodes(path, label, info)
    return info


def declared_image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) an image's header declares, read without decoding its pixels.

    Pillow's `Image.open` refuses very large sizes before saying them; its format plugins read the
    header alone."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as f:
        prefix = f.read(16)
        for factory, accept in (Image.OPEN[fmt] for fmt in ("PNG", "JPEG", "WEBP", "BMP")):
            if accept and accept(prefix):
                f.seek(0)
                try:
                    return factory(f, str(path)).size
                except (OSError, SyntaxError, ValueError):
                    return None
    return None


def _demuxed_seconds(path: Path, *, cap_s: float) -> float:
    """How many seconds of packets the file really holds (up to `cap_s`), whatever its header
    says: every packet is read, none decoded."""
    args = ["ffmpeg", "-nostdin", "-v", "error", *input_args(path)]
    args += ["-map", "0:v?", "-map", "0:a?", "-c", "copy", "-t", f"{cap_s:.3f}"]
    args += ["-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    times = re.findall(r"^out_time_us=(\d+)$", proc.stdout, re.MULTILINE)
    return max((int(t) for t in times), default=0) / 1e6


def _check_decodes(path: Path, label: str, info: MediaInfo) -> None:
    """Decode the first and last half second: a truncated file often probes fine but fails here."""
    for seek in (["-t", "0.5"], ["-sseof", "-0.5"]):
        args = ["ffmpeg", "-nostdin", "-v", "error", "-xerror"]
        args += seek if seek[0] == "-sseof" else []
        args += input_args(path)
        args += seek if seek[0] == "-t" else []
        args += ["-f", "null", "-"]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise InvalidMediaError(
                f"{label}: the file is damaged or truncated; "
                f"decoding failed ({_scrub(_last_line(proc.stderr), path, label)})"
            )


def _scrub(message: str, path: Path, label: str) -> str:
    """A tool's message with the file on disk (a server temp path) shown as the user's name."""
    on_disk = re.escape(str(path)) + "|" + re.escape(path.name)
    return re.sub(on_disk, lambda _: label, message)


def _distinct(value: float, limit: float) -> tuple[str, str]:
    """`value` and `limit` printed with as few decimals as tell them apart (600.001 vs 600)."""
    for decimals in range(1, 7):
        shown = f"{value:.{decimals}f}"
        if float(shown) != limit:
            break
    return shown, f"{limit:g}"


def _duration(fmt: dict, streams: list[dict]) -> float:
    for value in [fmt.get("duration")] + [s.get("duration") for s in streams]:
        try:
            if value is not None and float(value) > 0:
                return float(value)
        except ValueError:
            continue
    return 0.0


def _stream_summary(stream: dict) -> dict:
    """What a user reads about one ffprobe stream: kind, codec, then size and rate or layout."""
    kind = stream.get("codec_type", "unknown")
    summary = {"index": stream.get("index"), "type": kind, "codec": stream.get("codec_name")}
    if kind == "video":
        rate = stream.get("avg_frame_rate") or "0/1"
        summary.update(
            width=stream.get("width"),
            height=stream.get("height"),
            fps=float(Fraction(rate)) if rate not in ("0/0", "") else None,
            rotation=_rotation(stream),
            attached_pic=bool(stream.get("disposition", {}).get("attached_pic")),
        )
    elif kind == "audio":
        rate = stream.get("sample_rate")
        summary.update(sample_rate=int(rate) if rate else None, channels=stream.get("channels"))
    return summary


def _frame_count(stream: dict) -> int:
    try:
        return int(stream.get("nb_frames") or 1)
    except ValueError:
        return 1


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(float(side["rotation"])) % 360
    return int(stream.get("tags", {}).get("rotate", 0)) % 360


def _last_line(stderr: bytes | str | None) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no details from ffprobe"
