"""The corrupt pipeline end to end on generated media: SNR of the written file, formats, errors."""

import json
import subprocess

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from modelzoo.corruption.audio import snr_db
from modelzoo.corruption.params import parse_corruption_params
from modelzoo.errors import InvalidMediaError, UserError
from modelzoo.media import io
from modelzoo.pipelines import corrupt as pipeline

from .synthetic_media import speech, video


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clip = speech(root / "speech44.wav", rate=44100, channels=2)
    return {
        "wav": clip,
        "mp4": video(root / "talk.mp4", size="97x65", fps=30, seconds=2.4, audio=clip),
        "silent_mp4": video(root / "silent.mp4", seconds=2.0),
        "png": _png(root / "still.png"),
        "face_mp4": _face_video(root),
    }


def corrupt(src, params: dict, out_dir, **options):
    """The pipeline on params written in the public JSON schema (DESIGN.md 'Corrupt params')."""
    return pipeline.corrupt(src, parse_corruption_params(params), out_dir, **options)


@pytest.fixture(autouse=True)
def babble_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def _png(path):
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    return path


def _face_video(root):
    """0.6 s of scikit-image's astronaut photograph (a real face) at 25 fps."""
    from skimage import data

    sf_path = root / "astronaut.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "512x512"]
        + ["-i", "pipe:0", str(sf_path)],
        input=data.astronaut().tobytes(),
        check=True,
    )
    out = root / "face.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-loop", "1", "-i", str(sf_path), "-t", "0.6", "-r", "25"]
        + ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )
    return out


def _streams(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    return {s["codec_type"]: s for s in json.loads(out.stdout)["streams"]}


def _measured_snr(clean_path, noisy_path):
    clean = io.read_audio(clean_path, sample_rate=None, mono=False)
    noisy = io.read_audio(noisy_path, sample_rate=None, mono=False)[: clean.shape[0]]
    return snr_db(clean, noisy)


def _lag(clean_path, noisy_path):
    clean = io.read_audio(clean_path, sample_rate=None)
    noisy = io.read_audio(noisy_path, sample_rate=None)[: clean.shape[0]]
    corr = scipy.signal.correlate(noisy, clean, mode="full", method="fft")
    return int(np.argmax(corr)) - (clean.shape[0] - 1)


@pytest.mark.parametrize("noise", ["white", "pink", "babble"])
def test_wav_output_has_the_requested_snr(media, tmp_path, noise):
    params = {"audio": {"noise": noise, "snr_db": 5}, "seed": 3}
    out, _ = corrupt(media["wav"], params, tmp_path)
    assert out == tmp_path / "corrupted.wav"
    info = sf.info(out)
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_16", 44100, 2)
    assert _measured_snr(media["wav"], out) == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("snr", [-5, 0, 5, 10, 15])
def test_wav_output_is_within_a_fifth_of_a_db_of_each_of_the_papers_snrs(media, tmp_path, snr):
    params = {"audio": {"noise": "babble", "snr_db": snr}, "seed": 0}
    out, _ = corrupt(media["wav"], params, tmp_path)
    assert _measured_snr(media["wav"], out) == pytest.approx(snr, abs=0.2)


@pytest.mark.parametrize("noise, snr", [("babble", 0.0), ("white", 10.0)])
def test_mp4_output_has_the_requested_snr_and_lines_up_sample_exactly(media, tmp_path, noise, snr):
    params = {"audio": {"noise": noise, "snr_db": snr}, "seed": 1}
    out, _ = corrupt(media["mp4"], params, tmp_path)
    assert out == tmp_path / "corrupted.mp4"
    assert _lag(media["mp4"], out) == 0
    assert _measured_snr(media["mp4"], out) == pytest.approx(snr, abs=0.5)


def test_mp4_output_is_browser_playable_h264_aac_at_25_fps_with_even_size(media, tmp_path):
    params = {"video": {"kind": "blur", "fraction": 0.5}}
    out, _ = corrupt(media["mp4"], params, tmp_path)
    streams = _streams(out)
    v, a = streams["video"], streams["audio"]
    assert (v["codec_name"], v["pix_fmt"], a["codec_name"]) == ("h264", "yuv420p", "aac")
    assert (v["width"], v["height"]) == (96, 64)
    assert v["avg_frame_rate"] == "25/1"
    assert int(v["nb_frames"]) == 60  # 2.4 s at 25 fps
    with open(out, "rb") as f:
        head = f.read(4096)
    assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # +faststart


def test_gaussian_noise_covers_the_requested_fraction_of_frames(media, tmp_path):
    out, _ = corrupt(
        media["silent_mp4"], {"video": {"kind": "gaussian", "fraction": 0.4}, "seed": 5}, tmp_path
    )
    clean = np.concatenate(list(io.iter_frames(media["silent_mp4"])))[:, :64, :96]
    noisy = np.concatenate(list(io.iter_frames(out)))
    assert "audio" not in _streams(out)
    mse = ((noisy.astype(float) - clean) ** 2).mean(axis=(1, 2, 3))
    # Untouched frames differ only by re-encoding; the median frame is one of them (fraction < 0.5).
    assert np.count_nonzero(mse > 2 * np.median(mse)) == pytest.approx(0.4 * 50, abs=1)


def test_same_seed_gives_the_same_file_and_another_seed_differs(media, tmp_path):
    def run(seed, name):
        params = {"audio": {"noise": "pink", "snr_db": 0, "partial": True}, "seed": seed}
        return corrupt(media["wav"], params, tmp_path / name)[0].read_bytes()

    assert run(4, "a") == run(4, "b") != run(5, "c")


def test_progress_rises_from_0_to_1_with_messages(media, tmp_path):
    seen = []
    params = {"audio": {"noise": "white", "snr_db": 5}, "video": {"kind": "blur", "fraction": 0.3}}
    corrupt(media["mp4"], params, tmp_path, progress=lambda f, m: seen.append((f, m)))
    fracs = [f for f, _ in seen]
    assert fracs[0] == 0.0 and fracs[-1] == 1.0 and len(seen) >= 4
    assert fracs == sorted(fracs) and all(0.0 <= f <= 1.0 for f in fracs)
    assert all(isinstance(m, str) and m for _, m in seen)


@pytest.mark.parametrize(
    "name, params, error, words",
    [
        ("silent_mp4", {"audio": {"noise": "white"}}, InvalidMediaError, "no audio stream"),
        ("wav", {"video": {"kind": "blur"}}, InvalidMediaError, "no video stream"),
        ("png", {"video": {"kind": "blur"}}, InvalidMediaError, "still image"),
        ("silent_mp4", {"video": {"kind": "occlusion"}}, UserError, "no face found"),
    ],
)
def test_input_that_cannot_serve_the_params_is_refused_naming_the_problem(
    media, tmp_path, name, params, error, words
):
    with pytest.raises(error, match=words) as info:
        corrupt(media[name], params, tmp_path / "out")
    assert media[name].name in str(info.value) or error is UserError
    assert not list(tmp_path.glob("out/*"))  # no partial output


def test_occlusion_covers_the_mouth_of_a_real_face(media, tmp_path):
    from modelzoo.media.faces import track_faces

    params = {"video": {"kind": "occlusion", "fraction": 1.0}, "seed": 2}
    out, _ = corrupt(media["face_mp4"], params, tmp_path)
    clean = np.concatenate(list(io.iter_frames(media["face_mp4"])))
    occluded = np.concatenate(list(io.iter_frames(out)))
    mouth = track_faces(clean[:1]).landmarks[0, 48:68]
    changed = np.abs(occluded.astype(int) - clean).max(axis=3) > 60
    assert changed.any(axis=(1, 2)).all()  # every frame is occluded
    ys, xs = np.nonzero(changed.any(axis=0))
    reach = 1.5 * (mouth[:, 0].max() - mouth[:, 0].min())  # about one mouth width around it
    assert mouth[:, 0].min() - reach <= xs.min() and xs.max() <= mouth[:, 0].max() + reach
    assert mouth[:, 1].min() - reach <= ys.min() and ys.max() <= mouth[:, 1].max() + reach


def test_corruption_json_names_the_frames_and_seconds_that_were_corrupted(media, tmp_path):
    params = {"video": {"kind": "blur", "fraction": 0.5},
              "audio": {"noise": "white", "snr_db": 0, "partial": True}, "seed": 4}  # fmt: skip
    out, stretches = corrupt(media["mp4"], params, tmp_path)
    where = json.loads(stretches.read_text())
    assert stretches.name == "corruption.json" and where["fps"] == 25
    assert where["video"] == {"kind": "blur", "fraction": 0.5}
    # The same run without the blur has the same re-encoding: the frames differ where it blurred.
    plain, _ = corrupt(media["mp4"], {**params, "video": None}, tmp_path / "plain")
    clean = np.concatenate(list(io.iter_frames(plain)))
    blurred = np.concatenate(list(io.iter_frames(out)))
    change = np.abs(blurred.astype(int) - clean).mean(axis=(1, 2, 3))  # (T,)
    listed = np.zeros(len(clean), bool)
    for start, stop in where["video_frames"]:
        listed[start:stop] = True
    assert listed.mean() == pytest.approx(0.5, abs=0.05)
    assert np.median(change[listed]) > 3 * np.median(change[~listed]), change.round(2)
    # Partial noise: the listed stretches carry it, the rest of the clip is left clean.
    rate, _ = io.audio_stream_info(media["mp4"])
    before = io.read_audio(media["mp4"], sample_rate=None, mono=True)
    after = io.read_audio(out, sample_rate=None, mono=True)[: len(before)]
    noisy = np.zeros(len(before), bool)
    for start_s, stop_s in where["audio_stretches_s"]:
        noisy[int(start_s * rate) : int(stop_s * rate)] = True
    assert 0 < noisy.mean() < 1
    difference = np.abs(after - before[: len(after)])
    assert difference[noisy].mean() > 5 * difference[~noisy].mean()
