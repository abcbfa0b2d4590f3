"""Staff JSON API of crowd studies: design, stimuli, progress, results, exports and imports.

Every view needs a signed-in staff user (403 otherwise); errors are 4xx with {"error": "..."}, as
in the jobs API.
"""

import json
import tempfile
from functools import wraps
from pathlib import Path

from django.db import IntegrityError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import analysis, errors, exports, imports, paper, qc, selectors, services
from .models import Study

EXPORTS = {
    "long.csv": ("text/csv", exports.long_csv),
    "stimuli.csv": ("text/csv", exports.stimuli_csv),
    "raters.csv": ("text/csv", exports.raters_csv),
    "full.json": ("application/json", exports.full_json),
}
# The paper-ready table; ?reference=<system> picks what the significance marks compare with.
PAPER = {"paper.md": ("text/markdown", paper.markdown), "paper.tex": ("text/x-tex", paper.latex)}
STUDY_OPTIONS = {
    "platform",
    "consent_text",
    "instructions_text",
    "votes_per_stimulus",
    "stimuli_per_session",
    "gold_per_session",
    "traps_per_session",
    "max_plays",
    "require_played_to_end",
    "completion_code",
    "session_ttl_minutes",
    "qc_config",
    "is_open",
    "ci_convention",
    "duration_minutes",
    "pay_text",
    "contact",
    "withdrawal_text",
    "qualification",
    "screenout_code",
}


def staff_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_authenticated and request.user.is_staff):
            return JsonResponse({"error": "staff login required"}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def study_json(study: Study) -> dict:
    return {
        "slug": study.slug,
        "title": study.title,
        "kind": study.kind,
        "platform": study.platform,
        "is_open": study.is_open,
        "url": study.get_absolute_url(),
        "votes_per_stimulus": study.votes_per_stimulus,
        "stimuli_per_session": study.stimuli_per_session,
        "questions": list(
            study.questions.values(
                "key", "prompt", "kind", "scale_min", "scale_max", "anchors", "section", "sound"
            )
        ),
    }


@staff_required
@require_http_methods(["GET", "POST"])
def study_collection(request):
    if request.method == "GET":
        return JsonResponse({"studies": [study_json(s) for s in Study.objects.all()]})
    try:
        body = json.loads(request.body or b"{}")
    except json.JSONDecodeError as exc:
        return error(f"body is not JSON: {exc.msg}")
    unknown = set(body) - STUDY_OPTIONS - {"slug", "title", "kind", "questions"}
    if unknown:
        return error(f"unknown fields: {', '.join(sorted(unknown))}")
    if not body.get("slug") or not body.get("title"):
        return error("slug and title are required")
    try:
        study = services.study_create(**body)
    except errors.AnnotationError as exc:
        return error(str(exc))
    except (IntegrityError, TypeError) as exc:
        return error(f"cannot create study: {exc}")
    return JsonResponse(study_json(study), status=201)


@staff_required
@require_GET
def study_detail(request, slug):
    study = get_object_or_404(Study, slug=slug)
    return JsonResponse({**study_json(study), "progress": selectors.study_progress(study)})


def _stimulus_fields(post) -> dict:
    return {
        "system": post.get("system", "").strip(),
        "utterance_id": post.get("utterance_id", "").strip(),
        "reference_text": post.get("reference_text", ""),
    }


@staff_required
@require_POST
def stimulus_create(request, slug):
    """Add a stimulus from an uploaded `video` or from a finished generation `job` (its uuid)."""
    study = get_object_or_404(Study, slug=slug)
    fields = _stimulus_fields(request.POST)
    try:
        if request.POST.get("job"):
            job = selectors.generation_job(request.POST["job"])
            if job is None:
                return error(f"no job {request.POST['job']}", 404)
            stimulus = services.stimulus_add_from_job(study=study, job=job, **fields)
        else:
            stimulus = _stimulus_from_upload(study, request, fields)
    except (errors.AnnotationError, ValueError) as exc:
        return error(str(exc))
    body = {
        "id": stimulus.pk,
        "system": stimulus.system,
        "utterance_id": stimulus.utterance_id,
        "role": stimulus.role,
        "duration_s": stimulus.duration_s,
    }
    return JsonResponse(body, status=201)


@staff_required
@require_POST
def stimuli_from_jobs(request, slug):
    """Add many stimuli from finished generation jobs in one go, all or none.

    Body: {"items": [{"job": "<uuid>", "utterance_id": "u1", "reference_text": "...",
    "system": "optional, defaults to the job's model"}]}.
    """
    study = get_object_or_404(Study, slug=slug)
    try:
        items = json.loads(request.body or b"{}").get("items", [])
    except (json.JSONDecodeError, AttributeError):
        return error('body must be JSON: {"items": [...]}')
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return error('"items" must be a list of objects')
    try:
        stored = services.stimuli_add_from_jobs(study=study, items=items)
    except errors.AnnotationError as exc:
        return error(str(exc))
    created = [{"id": s.pk, "system": s.system, "utterance_id": s.utterance_id} for s in stored]
    return JsonResponse({"created": created}, status=201)


def _stimulus_from_upload(study, request, fields):
    upload = request.FILES.get("video")
    if upload is None:
        raise errors.AnnotationError("send a `video` file or a `job` id")
    if not fields["system"] or not fields["utterance_id"]:
        raise errors.AnnotationError("system and utterance_id are required")
    gold = json.loads(request.POST.get("gold_answers") or "{}")
    options = {
        "is_real": request.POST.get("is_real") in {"1", "true", "on"},
        "role": request.POST.get("role", "regular"),
        "gold_answers": gold,
    }
    if hasattr(upload, "temporary_file_path"):
        return services.stimulus_add(
            study=study, path=Path(upload.temporary_file_path()), **fields, **options
        )
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix[:10]) as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.flush()
        return services.stimulus_add(study=study, path=Path(tmp.name), **fields, **options)


@staff_required
@require_GET
def study_results(request, slug):
    study = get_object_or_404(Study, slug=slug)
    result = analysis.study_results(study)
    return JsonResponse({**result, "progress": selectors.study_progress(study)})


@staff_required
@require_GET
def study_export(request, slug, fmt):
    study = get_object_or_404(Study, slug=slug)
    if fmt == "sureal.py":
        question = request.GET.get("question", "")
        if not study.questions.filter(key=question, kind="scale").exists():
            return error("name a rating question: ?question=<key>")
        content_type, body = "text/x-python", exports.sureal_dataset(study, question)
        name = f"{study.slug}_{question}_sureal.py"
    elif fmt in PAPER:
        content_type, writer = PAPER[fmt]
        body, name = writer(study, request.GET.get("reference", "")), f"{study.slug}_{fmt}"
    elif fmt in EXPORTS:
        content_type, writer = EXPORTS[fmt]
        body, name = writer(study), f"{study.slug}_{fmt}"
    else:
        known = ", ".join([*EXPORTS, *PAPER, "sureal.py"])
        return error(f"unknown export {fmt!r}; use {known}", 404)
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_required
@require_POST
def study_import(request, slug, fmt):
    """Import a long CSV or a sureal file sent as `file` (multipart) or as the raw body."""
    study = get_object_or_404(Study, slug=slug)
    upload = request.FILES.get("file")
    try:
        text = (upload.read() if upload else request.body).decode("utf-8")
    except UnicodeDecodeError:
        return error("the file is not UTF-8 text")
    try:
        if fmt == "long.csv":
            created = imports.import_long_csv(study=study, text=text)
        elif fmt == "sureal.py":
            question = request.GET.get("question", "")
            created = imports.import_sureal(
                study=study,
                text=text,
                question_key=question,
                system_key=request.GET.get("system_key", ""),
            )
        else:
            return error(f"unknown import {fmt!r}; use long.csv or sureal.py", 404)
    except errors.AnnotationError as exc:
        return error(str(exc))
    return JsonResponse({"created": created}, status=201)


@staff_required
@require_POST
def study_qc(request, slug):
    """Re-run QC over all completed sessions, with the study-wide leave-one-out check."""
    study = get_object_or_404(Study, slug=slug)
    return JsonResponse({"changed": qc.verdicts_rerun(study=study)})
