"""The /healthz probe: database, broker and live workers, as JSON (503 when any is down)."""

from datetime import timedelta

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from webapp.jobs.models import WorkerHeartbeat

WORKER_STALE_AFTER = timedelta(seconds=30)


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as err:  # a health probe reports every failure instead of raising it
        return {"ok": False, "error": str(err)[:200]}


def check_broker() -> dict:
    from workers.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
        return {"ok": True, "transport": str(transport)}
    except Exception as err:  # as above
        return {"ok": False, "error": str(err)[:200]}


def check_workers() -> dict:
    fresh = WorkerHeartbeat.objects.filter(last_seen__gte=timezone.now() - WORKER_STALE_AFTER)
    names = sorted(fresh.values_list("hostname", flat=True))
    return {"ok": bool(names), "count": len(names), "names": names}


def healthz(request):
    report = {"database": check_database(), "broker": check_broker()}
    report["workers"] = check_workers() if report["database"]["ok"] else {"ok": False}
    healthy = all(part["ok"] for part in report.values())
    report["status"] = "ok" if healthy else "degraded"
    return JsonResponse(report, status=200 if healthy else 503)
