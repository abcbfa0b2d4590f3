"""Which worker run this process belongs to: set by the worker at start, read by the tasks."""

import uuid

# This worker process's run; pool children inherit it. A restarted worker keeps its name (and
# heartbeat row) but not this, which tells its predecessor's jobs apart from its own.
WORKER_BOOT = uuid.uuid4().hex
_worker = {"hostname": ""}


def set_hostname(hostname: str) -> None:
    _worker["hostname"] = hostname


def worker_identity() -> tuple[str, str]:
    """(hostname, boot id) of the worker this process belongs to; ("", boot) outside a worker."""
    return _worker["hostname"], WORKER_BOOT
