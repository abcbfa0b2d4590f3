"""The production web tier on one machine: nginx with the project's template in front of Django
under gunicorn (two gthread processes) and the Gradio demo under uvicorn, on PostgreSQL and Redis.

Which process answered is read from each server's access log."""

import os
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, _free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),  # three servers start per test: slow on a loaded 2-core machine
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed"),
]

TEMPLATE = ROOT / "webapp" / "proxy" / "nginx.conf.template"


def _wait_port(port: int, proc: subprocess.Popen, log: Path, path: str = "/healthz") -> None:
    """Wait for a server to answer; generous, as a loaded machine imports Django and Gradio
    slowly."""
    deadline = time.monotonic() + 240
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=10, allow_redirects=False)
            return
        except requests.RequestException:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "never answered: " + log.read_text()[-3000:]
            time.sleep(0.3)


def _logged(log: Path, text: str, seconds: float = 15) -> bool:
    """Whether `text` reaches the log (servers write access lines after the response)."""
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _nginx_conf(folder: Path, *, listen: int, django: int, demo: int, static: Path) -> Path:
    """A whole nginx.conf around the template's server block, as the nginx image fills it in."""
    from django.conf import settings

    server = string.Template(TEMPLATE.read_text()).safe_substitute(
        SYNCLAB_PROXY_LISTEN=f"127.0.0.1:{listen}",
        SYNCLAB_DJANGO_UPSTREAM=f"127.0.0.1:{django}",
        SYNCLAB_DEMO_UPSTREAM=f"127.0.0.1:{demo}",
        SYNCLAB_STATIC_ROOT=str(static),
        SYNCLAB_MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # the test's files are root's alone
        + f"daemon off; worker_processes 1; pid {folder / 'nginx.pid'};\n"
        + f"error_log {folder / 'error.log'};\n"
        + "events {}\n"
        + "http {\n include /etc/nginx/mime.types;\n"
        + f" access_log {folder / 'access.log'};\n {temp}\n"
        + f" uwsgi_temp_path {folder / 'uwsgi'}; scgi_temp_path {folder / 'scgi'};\n"
        + server
        + "}\n"
    )
    return conf


@pytest.fixture
def tier(worker_env, tmp_path):
    """(proxy URL, gunicorn's access log, the demo's log)."""
    env = {
        **worker_env,
        "SYNCLAB_ACCEL_REDIRECT": "/protected-media/",
        "SYNCLAB_CLIENT_IP_META": "HTTP_X_REAL_IP",
        "SYNCLAB_CACHE_URL": os.environ["CELERY_BROKER_URL"],
        "SYNCLAB_RATE_JOBS_IP": "2/m",
    }
    started = []
    django_port = _free_port()
    django_log = tmp_path / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "webapp.wsgi:application",
         "--bind", f"127.0.0.1:{django_port}", "--workers", "2", "--worker-class", "gthread",
         "--threads", "4", "--access-logfile", "-", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=django_log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    started.append(gunicorn)
    try:
        _wait_port(django_port, gunicorn, django_log)
        demo_port = _free_port()
        demo_log = tmp_path / "demo.log"
        demo = subprocess.Popen(  # the whole ASGI app, as docker-compose's demo service runs it
            [sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--port", str(demo_port)],
            cwd=ROOT, env=env, stdout=demo_log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(demo)
        _wait_port(demo_port, demo, demo_log, "/demo/")
        static = tmp_path / "static"
        static.mkdir()
        (static / "probe.css").write_text("body { color: teal }\n")
        proxy_port = _free_port()
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        conf = _nginx_conf(
            nginx_dir, listen=proxy_port, django=django_port, demo=demo_port, static=static
        )
        nginx_log = nginx_dir / "error.log"
        nginx = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(nginx_dir)],
            stdout=nginx_log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        started.append(nginx)
        _wait_port(proxy_port, nginx, nginx_log)
        yield f"http://127.0.0.1:{proxy_port}", django_log, demo_log
    finally:
        for proc in started:
            _stop(proc)


def _job_with_output(session_key: str, content: bytes):
    from webapp.jobs.models import Job

    job = Job.objects.create(
        kind="corrupt",
        status="succeeded",
        owner_session=session_key,
        outputs=[
            {"name": "corrupted.mp4", "path": "output/corrupted.mp4", "content_type": "video/mp4"}
        ],
    )
    (job.directory / "output").mkdir(parents=True)
    (job.directory / "output" / "corrupted.mp4").write_bytes(content)
    return job


def test_proxy_routes_demo_to_gradio_and_the_rest_to_django_and_serves_static_itself(tier):
    url, django_log, demo_log = tier
    page = requests.get(url + "/demo/", timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    health = requests.get(url + "/healthz", timeout=30)
    assert health.headers["Content-Type"].startswith("application/json")
    assert _logged(django_log, "GET /healthz")
    assert _logged(demo_log, "GET /demo/ ") and "GET /demo/" not in django_log.read_text()
    assert requests.get(url + "/demo", allow_redirects=False).headers["Location"].endswith("/demo/")
    response = requests.get(url + "/static/probe.css", timeout=30)
    assert response.status_code == 200 and response.text == "body { color: teal }\n"
    assert "/static/probe.css" not in django_log.read_text()


def test_media_passes_djangos_check_then_nginx_sends_it_and_limits_see_the_real_address(tier):
    from webapp.demo.sessions import new_session

    url, _, _ = tier
    content = bytes(range(256)) * 40
    key = new_session()[0]
    job = _job_with_output(key, content)
    file_url = f"{url}/api/jobs/{job.id}/outputs/corrupted.mp4"
    # Django's FileResponse has no byte ranges: a 206 is nginx's, after X-Accel-Redirect.
    part = requests.get(file_url, cookies={"sessionid": key}, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206, part.text
    assert part.content == content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert "X-Accel-Redirect" not in part.headers
    whole = requests.get(file_url, cookies={"sessionid": key})
    assert whole.content == content and whole.headers["Content-Type"] == "video/mp4"
    # A stranger is refused by Django, and the internal location is not reachable from outside.
    assert requests.get(file_url).status_code == 404
    internal = f"{url}/protected-media/jobs/{job.id}/output/corrupted.mp4"
    assert requests.get(internal).status_code == 404

    # The limit is 2 a minute per address; nginx overwrites the X-Real-IP a client sends, and
    # both gunicorn processes count in Redis.
    codes = [
        requests.post(
            f"{url}/api/jobs/", data={}, headers={"X-Real-IP": f"198.51.100.{i}"}
        ).status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 429, 429]
