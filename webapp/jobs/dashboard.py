"""Staff pages of evaluate jobs: start one on a corpus of the server, follow it, read its report.

The pages only read the job row and its report.json (written by `modelzoo.evaluation`); they
never import the evaluation code itself, which would load torch into the web process.
"""

import json
import math

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.datastructures import MultiValueDict

from modelzoo.zoo import loading

from .api import owner_of
from .forms import JobForm, corpus_names
from .kinds import models_for_kind
from .models import Job

ROLE_TITLES = {"generator": "Generation", "recogniser": "Recognition", "judge": "SyncNet judges"}


def _models() -> list[str]:
    entries = models_for_kind(Job.Kind.EVALUATE)
    return [e.id for e in entries if loading.weights_available(e)]


def _start(request):
    """Create the evaluate job that the form asks for: (job, None) or (None, error message)."""
    params = {"corpus": request.POST.get("corpus", ""), "split": request.POST.get("split", "test")}
    limit = request.POST.get("limit", "").strip()
    if limit:
        if not limit.isdigit():
            return None, f"limit: '{limit}' is not a whole number of clips"
        params["limit"] = int(limit)
    data = {"kind": Job.Kind.EVALUATE, "model": request.POST.get("model", "")}
    form = JobForm({**data, "params": json.dumps(params)}, MultiValueDict())
    if not form.is_valid():
        return None, form.first_error()
    return form.create_job(owner_of(request)), None


@staff_member_required
def evaluations(request):
    error = None
    if request.method == "POST":
        job, error = _start(request)
        if job is not None:
            return redirect("evaluations:detail", job.id)
    context = {
        "jobs": Job.objects.filter(kind=Job.Kind.EVALUATE)[:50],
        "models": _models(),
        "corpora": corpus_names(),
        "error": error,
        "posted": request.POST,
    }
    return render(request, "jobs/evaluations.html", context, status=400 if error else 200)


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool | int | str):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def report_tables(report: dict) -> list[dict]:
    """The report's rows as tables, one per model role, columns in the metrics' own order."""
    roles = {m["id"]: m["role"] for m in report.get("models", [])}
    tables = []
    for role, title in ROLE_TITLES.items():
        rows = [r for r in report["rows"] if roles.get(r["model"], "generator") == role]
        if not rows:
            continue
        columns = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
        cells = [
            [r["model"], r["condition"], *(_cell(r["metrics"].get(c)) for c in columns)]
            for r in rows
        ]
        tables.append({"title": title, "columns": columns, "rows": cells, "role": role})
    return tables


@staff_member_required
def evaluation(request, job_id):
    job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.EVALUATE)
    report = None
    path = job.output_path("report.json") if job.status == Job.Status.SUCCEEDED else None
    if path is not None and path.is_file():
        report = json.loads(path.read_text())
    context = {"job": job, "report": report}
    if report is not None:
        outputs = job.as_json()["outputs"]
        context.update(
            tables=report_tables(report),
            reliability=report.get("reliability", {}),
            protocol=json.dumps(report["protocol"], indent=2),
            plots=[o for o in outputs if o["content_type"] == "image/png"],
            files=[o for o in outputs if o["content_type"] != "image/png"],
        )
    return render(request, "jobs/evaluation.html", context)
