"""Media that lies: playlists named .mp4, headers that understate the length, huge declared images.

Each is refused by validation with the real reason, and no ffmpeg call reads another file.
"""

import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from modelzoo.errors import InvalidMediaError
from modelzoo.media.io import read_audio
from modelzoo.media.probe import MediaLimits, declared_image_size, size_text, validate
from tests.conftest import make_clip


@pytest.fixture
def secret_segment(tmp_path) -> Path:
    """A server-local media file that a playlist could point at."""
    return make_clip(tmp_path / "secret.ts", seconds=2)


def _playlists(folder: Path, target: Path) -> dict[str, Path]:
    texts = {
        "hls": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n",
        "concat": f"ffconcat version 1.0\nfile '{target}'\n",
        "plain concat list": f"file '{target}'\n",
    }
    paths = {}
    for kind, text in texts.items():
        path = folder / f"{kind.replace(' ', '_')}.mp4"
        path.write_text(text)
        paths[kind] = path
    return paths


@pytest.mark.parametrize("kind", ["hls", "concat", "plain concat list"])
def test_playlists_named_mp4_are_refused(tmp_path, secret_segment, kind):
    path = _playlists(tmp_path, secret_segment)[kind]
    with pytest.raises(InvalidMediaError) as err:
        validate(path, label="clip.mp4", need_video=True)
    message = str(err.value)
    assert message.startswith("clip.mp4: ")
    assert "not accepted" in message or "not a readable" in message
    assert str(tmp_path) not in message


def test_playlist_cannot_be_read_by_the_job_readers_either(tmp_path, secret_segment):
    with pytest.raises(InvalidMediaError):
        read_audio(_playlists(tmp_path, secret_segment)["hls"])


def _understated_m4a(tmp_path: Path, seconds: float, header_seconds: float) -> Path:
    """An m4a whose movie and track headers claim `header_seconds` but hold `seconds` of audio."""
    real = tmp_path / "real.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=300:sample_rate=16000:duration={seconds}", "-c:a", "aac", str(real)],
        check=True,
    )  # fmt: skip
    data = bytearray(real.read_bytes())
    for box in (b"mvhd", b"mdhd"):
        at = data.find(box)
        assert data[at + 4] == 0  # version 0: 32-bit timescale and duration
        timescale = struct.unpack(">I", data[at + 16 : at + 20])[0]
        struct.pack_into(">I", data, at + 20, int(timescale * header_seconds))
    liar = tmp_path / "liar.m4a"
    liar.write_bytes(data)
    return liar


def test_duration_limit_holds_for_what_the_file_contains_not_its_header(tmp_path):
    liar = _understated_m4a(tmp_path, seconds=30, header_seconds=5)
    limits = MediaLimits(max_duration_s=10)
    with pytest.raises(InvalidMediaError) as err:
        validate(liar, label="talk.m4a", need_audio=True, limits=limits)
    assert str(err.value) == (
        "talk.m4a: holds at least 11.0 s of media although its header says 5.0 s; the limit is 10 s"
    )
    honest = _understated_m4a(tmp_path, seconds=8, header_seconds=8)
    assert validate(honest, need_audio=True, limits=limits).has_audio


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = zlib.compress(b"\x00" + b"\x00" * 3 * width, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    path.write_bytes(signature + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b""))
    return path


def test_huge_declared_image_is_refused_for_its_size_before_decoding(tmp_path):
    huge = _png_header_only(tmp_path / "huge.png", 30000, 30000)
    assert declared_image_size(huge) == (30000, 30000)
    with pytest.raises(InvalidMediaError) as err:
        validate(huge, label="face.png", allow_image=True)
    assert str(err.value) == "face.png: 30000x30000 is too large; the limit is 3840x3840"


def test_ordinary_image_still_passes(tmp_path):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(path)
    info = validate(path, allow_image=True)
    assert info.is_image and (info.width, info.height) == (80, 64)


def test_one_byte_over_the_size_limit_names_both_sizes_exactly(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4")
    size = clip.stat().st_size
    with pytest.raises(InvalidMediaError) as err:
        validate(clip, limits=MediaLimits(max_bytes=size - 1))
    assert (
        str(err.value) == f"clip.mp4: the file is {size:,} bytes; the limit is {size - 1:,} bytes"
    )


@pytest.mark.parametrize(
    "size, text",
    [(200 * 2**20, "200 MiB"), (200 * 2**20 + 1, "209,715,201 bytes"), (1, "1 byte"),
     (3 * 2**30, "3 GiB"), (1536, "1,536 bytes"), (2048, "2 KiB")],
)  # fmt: skip
def test_sizes_are_named_exactly(size, text):
    assert size_text(size) == text
