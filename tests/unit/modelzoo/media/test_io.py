"""Media I/O: 25 fps RGB decoding of awkward inputs, audio extraction, streaming MP4 writing."""

import json
import subprocess

import numpy as np
import pytest

from modelzoo.errors import InvalidMediaError
from modelzoo.media import io
from modelzoo.media.probe import probe

from ..synthetic_media import ffmpeg, rotate_mp4, speech, video


def _decode(path, **kwargs):
    return np.concatenate(list(io.iter_frames(path, **kwargs)))


def test_30_fps_video_is_resampled_to_25_fps(tmp_path):
    frames = _decode(video(tmp_path / "v.mp4", fps=30, seconds=2.0))
    assert frames.shape == (50, 64, 96, 3) and frames.dtype == np.uint8


def test_variable_frame_rate_video_gives_25_frames_per_second(tmp_path):
    path = tmp_path / "vfr.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=50:duration=2"),
        *("-vf", "select='lt(mod(n\\,5)\\,2)+eq(mod(n\\,7)\\,0)'", "-fps_mode", "vfr"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)),
    )
    assert probe(path).fps != 25.0  # really variable: the average rate is not 25
    assert _decode(path).shape[0] == 50


@pytest.mark.parametrize("clockwise", [True, False])
def test_rotated_phone_video_is_decoded_upright(tmp_path, clockwise):
    plain = video(tmp_path / "plain.mp4", size="96x64", seconds=0.4)
    rotated = rotate_mp4(plain, tmp_path / "rotated.mp4", clockwise=clockwise)
    assert probe(rotated).rotation in (90, 270)
    upright = _decode(rotated)
    assert upright.shape == (10, 96, 64, 3)  # portrait
    # Same bitstream, so the pixels are those of the plain decode turned a quarter.
    expected = np.rot90(_decode(plain), k=-1 if clockwise else 1, axes=(1, 2))
    assert np.array_equal(upright, expected)


def test_odd_sized_video_keeps_its_size(tmp_path):
    path = video(
        tmp_path / "odd.mkv",
        size="98x66",
        extra=("-vf", "format=rgb24,crop=97:65:0:0", "-c:v", "ffv1", "-pix_fmt", "yuv444p"),
    )
    assert _decode(path).shape[1:] == (65, 97, 3)


def test_grayscale_video_decodes_to_rgb_with_equal_channels(tmp_path):
    path = video(tmp_path / "gray.mkv", extra=("-c:v", "ffv1", "-pix_fmt", "gray"))
    frames = _decode(path)
    assert frames.shape[-1] == 3
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(
        frames[..., 1], frames[..., 2]
    )
    assert frames.std() > 10


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_still_image_is_a_one_frame_source(tmp_path, suffix):
    path = tmp_path / f"still.{suffix}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60", "-frames:v", "1", str(path))
    assert [c.shape for c in io.iter_frames(path)] == [(1, 60, 80, 3)]
    assert io.read_image(path).shape == (60, 80, 3)
    assert io.frame_count(probe(path)) == 1


def test_frames_come_in_bounded_chunks(tmp_path):
    path = video(tmp_path / "v.mp4", seconds=2.0)
    assert [c.shape[0] for c in io.iter_frames(path, chunk_frames=16)] == [16, 16, 16, 2]


def test_large_frames_come_in_smaller_chunks(tmp_path):
    path = video(tmp_path / "big.mp4", size="1920x1080", seconds=0.6)
    sizes = [c.nbytes for c in io.iter_frames(path)]
    assert sum(c for c in sizes) == 15 * 1920 * 1080 * 3
    assert max(sizes) <= io.CHUNK_BYTES


def test_stopping_early_ends_the_decoder(tmp_path):
    path = video(tmp_path / "v.mp4", seconds=2.0)
    frames = io.iter_frames(path, chunk_frames=4)
    next(frames)
    frames.close()  # must not hang or leave ffmpeg running
    assert _decode(path).shape[0] == 50


def test_audio_is_extracted_as_16k_mono_float(tmp_path):
    clip = video(
        tmp_path / "v.mp4", seconds=2.0, audio=speech(tmp_path / "s.wav", rate=44100, channels=2)
    )
    audio = io.read_audio(clip)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == pytest.approx(probe(clip).duration_s * 16000, abs=1600)
    assert 0.01 < np.abs(audio).max() <= 1.0


def test_audio_at_its_own_rate_keeps_channels(tmp_path):
    wav = speech(tmp_path / "s.wav", rate=22050, channels=2)
    assert io.audio_stream_info(wav) == (22050, 2)
    assert io.read_audio(wav, sample_rate=None, mono=False).shape[1] == 2


def test_video_without_audio_says_audio_is_needed(tmp_path):
    with pytest.raises(InvalidMediaError, match="no audio stream"):
        io.read_audio(video(tmp_path / "v.mp4"))


def test_video_cut_before_its_first_frame_raises_a_media_error(tmp_path):
    path = video(tmp_path / "v.mkv", seconds=2.0, extra=("-c:v", "ffv1"))
    info = probe(path)
    data = path.read_bytes()
    path.write_bytes(data[: data.find(b"\x1f\x43\xb6\x75")])  # up to the first Matroska cluster
    with pytest.raises(InvalidMediaError, match="v.mkv: the video cannot be decoded"):
        list(io.iter_frames(path, info=info))


def _streams(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    return json.loads(out.stdout)["streams"]


def test_writer_makes_browser_playable_mp4_with_even_size(tmp_path):
    out = tmp_path / "out.mp4"
    frames = np.random.default_rng(0).integers(0, 256, (12, 65, 97, 3), dtype=np.uint8)
    with io.VideoWriter(out, 97, 65) as writer:
        writer.write(frames[:5])
        writer.write(frames[5])
        writer.write(frames[6:])
    (stream,) = _streams(out)
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert (stream["width"], stream["height"], int(stream["nb_frames"])) == (96, 64, 12)
    assert writer.frames_written == 12


def test_writer_rejects_frames_of_the_wrong_size_and_removes_the_partial_file(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="uint8"), io.VideoWriter(out, 64, 48) as writer:
        writer.write(np.zeros((2, 48, 64, 3), np.uint8))
        writer.write(np.zeros((2, 40, 64, 3), np.uint8))
    assert not out.exists()


def test_writer_thread_writes_every_chunk_in_order(tmp_path):
    out = tmp_path / "out.mp4"
    frames = np.zeros((30, 48, 64, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(30)[:, None, None] * 8  # each frame's own red level
    with io.VideoWriter(out, 64, 48, crf=0) as encoder, io.WriterThread(encoder) as writer:
        for start in range(0, 30, 4):
            writer.write(frames[start : start + 4].copy())
    assert encoder.frames_written == 30
    red = np.concatenate(list(io.iter_frames(out)))[:, 24, 32, 0].astype(int)
    assert np.abs(red - frames[:, 24, 32, 0]).max() <= 3


def test_writer_thread_hands_the_encoders_error_to_the_caller(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="uint8"), io.VideoWriter(out, 64, 48) as encoder:
        with io.WriterThread(encoder) as writer:
            writer.write(np.zeros((2, 40, 64, 3), np.uint8))  # the wrong size
            for _ in range(50):  # the error arrives at a later write, or at the close
                writer.write(np.zeros((2, 48, 64, 3), np.uint8))
    assert not out.exists()


def test_audio_and_video_stay_in_sync_through_decode_and_encode(tmp_path):
    """A white flash at frame 30 and a click at 1.2 s stay together after a write and a read."""
    rate = 16000
    clicks = np.zeros(rate * 2, np.float32)
    clicks[int(1.2 * rate) : int(1.2 * rate) + 400] = 0.8
    wav = tmp_path / "click.wav"
    io.write_wav(wav, clicks, rate)
    frames = np.zeros((50, 64, 64, 3), np.uint8)
    frames[30] = 255
    out = tmp_path / "sync.mp4"
    with io.VideoWriter(out, 64, 64, audio=wav) as writer:
        writer.write(frames)
    flash = int(np.argmax(_decode(out).mean(axis=(1, 2, 3))))
    onset = int(np.argmax(np.abs(io.read_audio(out)) > 0.3))
    assert abs(onset / (rate / io.FPS) - flash) < 1.0
