"""docker-compose.yml has DESIGN.md's production shape: services, GPU, volumes, healthchecks."""

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
    assert set(services) == {"postgres", "redis", "web", "worker-gpu", "worker-cpu"}
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
    for name in ("web", "worker-gpu", "worker-cpu"):
        service = services[name]
        env = service["environment"]
        mounts = dict(volume.split(":") for volume in service["volumes"])
        assert mounts["media"] == env["MEDIA_ROOT"]
        assert mounts["hf-cache"] == env["HF_HOME"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_is_one_uvicorn_process_on_the_asgi_app(services):
    command = " ".join(_command(services["web"]))
    assert "uvicorn webapp.asgi:application" in command and "--workers 1" in command


def test_web_pools_database_connections_and_workers_keep_theirs(services):
    assert services["web"]["environment"]["DATABASE_URL"].endswith("?pool=true")
    assert "DATABASE_CONN_MAX_AGE" not in services["web"]["environment"]
    for name in ("worker-gpu", "worker-cpu"):
        assert int(services[name]["environment"]["DATABASE_CONN_MAX_AGE"]) > 0
