"""docker-compose.yml has DESIGN.md's production shape: services, GPU, volumes, healthchecks, and
a reverse proxy in front of Django's pool of processes and the Gradio process."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _command(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else command.split()


def test_every_service_is_present_with_a_healthcheck(services):
    assert set(services) == {
        "postgres", "redis", "proxy", "web", "demo", "worker-gpu", "worker-cpu"
    }  # fmt: skip
    for name, service in services.items():
        assert service["healthcheck"]["test"], name


def test_gpu_worker_reserves_one_nvidia_gpu_and_runs_one_job_at_a_time(services):
    worker = services["worker-gpu"]
    command = _command(worker)
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("-c") + 1] == "1"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_cpu_worker_consumes_the_cpu_queue_without_a_gpu(services):
    worker = services["worker-cpu"]
    command = _command(worker)
    assert command[command.index("-Q") + 1] == "cpu"
    assert "deploy" not in worker


def test_app_services_share_media_and_hub_cache_volumes_and_real_servers(services):
    for name in ("web", "demo", "worker-gpu", "worker-cpu"):
        service = services[name]
        env = service["environment"]
        mounts = dict(volume.split(":") for volume in service["volumes"])
        assert mounts["media"] == env["MEDIA_ROOT"]
        assert mounts["hf-cache"] == env["HF_HOME"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_django_runs_in_a_pool_of_gunicorn_processes_and_gradio_in_one_of_its_own(services):
    web = services["web"]
    assert " ".join(_command(web)).endswith('exec gunicorn webapp.wsgi:application"')
    args = shlex.split(web["environment"]["GUNICORN_CMD_ARGS"])
    assert args[args.index("--worker-class") + 1] == "gthread"
    assert args[args.index("--workers") + 1] == "${WEB_PROCESSES:-4}"
    # Idle connections outlive nginx's upstream keep-alive (60 s), so none closes under a request.
    assert int(args[args.index("--keep-alive") + 1]) > 60
    demo = " ".join(_command(services["demo"]))
    assert "uvicorn webapp.asgi:application" in demo and "--workers 1" in demo
    assert "--proxy-headers" in demo  # Gradio sees the visitor's address, not the proxy's


def test_gunicorn_threads_keep_connections_and_the_demo_pools_them(services):
    assert "pool=true" not in services["web"]["environment"].get("DATABASE_URL", "")
    assert int(services["web"]["environment"]["DATABASE_CONN_MAX_AGE"]) > 0
    assert services["demo"]["environment"]["DATABASE_URL"].endswith("?pool=true")
    for name in ("worker-gpu", "worker-cpu"):
        assert int(services[name]["environment"]["DATABASE_CONN_MAX_AGE"]) > 0


def test_proxy_fronts_both_and_reads_static_and_media_from_the_shared_volumes(services):
    proxy = services["proxy"]
    env = proxy["environment"]
    assert env["SYNCLAB_DJANGO_UPSTREAM"] == "web:8000"
    assert env["SYNCLAB_DEMO_UPSTREAM"] == "demo:8000"
    mounts = {v.split(":")[0]: v.split(":")[1] for v in proxy["volumes"]}
    assert mounts["media"] == env["SYNCLAB_MEDIA_ROOT"]
    assert mounts["static"] == env["SYNCLAB_STATIC_ROOT"]
    template = "./webapp/proxy/nginx.conf.template"
    assert (ROOT / template).is_file() and mounts[template].startswith("/etc/nginx/templates/")
    web_mounts = dict(v.split(":")[:2] for v in services["web"]["volumes"])
    assert web_mounts["static"] == "/app/var/staticfiles"  # where the image's settings collect
    assert set(proxy["depends_on"]) == {"web", "demo"}
    assert proxy["ports"] == ["${PORT:-8000}:80"] and "ports" not in services["web"]


def test_django_hands_media_to_nginx_and_trusts_only_its_address_header(services):
    template = (ROOT / "webapp/proxy/nginx.conf.template").read_text()
    internal = re.search(r"location (\S+) \{\s*internal;", template)[1]
    assert "proxy_set_header X-Real-IP $remote_addr;" in template
    for name in ("web", "demo"):
        env = services[name]["environment"]
        assert env["SYNCLAB_ACCEL_REDIRECT"] == internal
        assert env["SYNCLAB_CLIENT_IP_META"] == "HTTP_X_REAL_IP"
        assert env["SYNCLAB_CACHE_URL"].startswith("redis://")  # rate-limit counts shared


def _compose_command() -> list[str] | None:
    """`docker compose` (the plugin) where it is installed, else `docker-compose` (Debian's)."""
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(_compose_command() is None, reason="neither docker compose nor docker-compose")
def test_docker_compose_config_validates():
    done = subprocess.run(
        [*_compose_command(), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "SECRET_KEY": "test"},
    )
    assert done.returncode == 0, done.stderr
