"""The Hugging Face Space app, started as its own process and driven through gradio_client."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from gradio_client import Client, handle_file

from modelzoo.zoo.registry import bundled_folder, entry
from tests.conftest import ROOT, _free_port, make_clip

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """`python webapp/space/app.py` on a free port; yields its URL."""
    folder = tmp_path_factory.mktemp("space")
    port = _free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SYNCLAB_SPACE_WORK_DIR": str(folder / "work"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = folder / "space.log"
    proc = subprocess.Popen(
        [sys.executable, "webapp/space/app.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the Space never answered: " + log.read_text()[-3000:]
        try:
            if requests.get(url, timeout=5).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def endpoint(client: Client, *parameter_labels: str) -> str:
    """The api name of the event whose inputs carry these labels (every tab's handler is
    `submit`, so Gradio numbers their names in an order not worth depending on)."""
    for name, info in client.view_api(print_info=False, return_format="dict")[
        "named_endpoints"
    ].items():
        labels = {p["label"] for p in info["parameters"]}
        if set(parameter_labels) <= labels:
            return name
    raise AssertionError(f"no endpoint takes {parameter_labels}")


def streams(path) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {s["codec_type"]: s for s in json.loads(out.stdout)["streams"]}


def test_corrupt_job_through_gradio_client_gives_a_playable_video(space, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=2.0)
    client = Client(space, verbose=False)
    api_name = endpoint(client, "Video (with audio) or audio file", "SNR (dB)")
    status, video, _, files = client.predict(
        handle_file(str(clip)), "white", 5, False, "blur", 0.3, 0, api_name=api_name
    )
    assert status.startswith("**Done**"), status
    result = video["video"] if isinstance(video, dict) else video
    found = streams(result)
    assert set(found) == {"video", "audio"}
    assert (found["video"]["width"], found["video"]["height"]) == (160, 120)
    assert [os.path.basename(f) for f in files] == ["corrupted.mp4", "corruption.json"]


def test_bad_upload_is_refused_with_a_message_naming_it(space, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    client = Client(space, verbose=False)
    api_name = endpoint(client, "Video (with audio) or audio file", "SNR (dB)")
    with pytest.raises(Exception, match="broken.mp4"):
        client.predict(
            handle_file(str(broken)), "white", 5, False, "none", 0.3, 0, api_name=api_name
        )


DEMO_ASR = bundled_folder(entry("avrelscore-demo"))


@pytest.mark.skipif(
    not (DEMO_ASR / "model.safetensors").is_file(),
    reason=f"no avrelscore-demo weights in {DEMO_ASR} (python -m modelzoo.synthgrid.train_demo)",
)
def test_transcribe_job_with_the_demo_model_gives_a_transcript(space, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=2.0)
    client = Client(space, verbose=False)
    api_name = endpoint(client, "Video of a speaking face (or an audio file)")
    no_corruption = (False, "babble", 0, True, "occlusion", 0.4, 0)
    status, text, notice, plot, files = client.predict(
        "avrelscore-demo", handle_file(str(clip)), "greedy", 10, *no_corruption, api_name=api_name
    )
    assert status.startswith("**Done**"), status
    assert isinstance(text, str) and notice.startswith("Mode:")
    assert sorted(os.path.basename(f) for f in files) == ["transcript.json", "transcript.txt"]
    assert plot and streams(plot)["video"]["codec_name"] == "png"


@pytest.mark.skipif(
    not (DEMO_ASR / "model.safetensors").is_file(),
    reason=f"no avrelscore-demo weights in {DEMO_ASR} (python -m modelzoo.synthgrid.train_demo)",
)
def test_transcribe_tab_can_corrupt_the_clip_first(space, tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", seconds=2.0)
    client = Client(space, verbose=False)
    api_name = endpoint(client, "Video of a speaking face (or an audio file)")
    corruption = (True, "white", 0, True, "blur", 0.5, 3)
    status, text, notice, plot, files = client.predict(
        "avrelscore-demo", handle_file(str(clip)), "greedy", 10, *corruption, api_name=api_name
    )
    assert status.startswith("**Done**"), status
    assert notice.startswith("Mode:") and plot
    assert sorted(os.path.basename(f) for f in files) == ["transcript.json", "transcript.txt"]
