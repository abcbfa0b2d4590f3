"""The JSON jobs API: create with a multipart upload, read, cancel, delete, download outputs."""

import html

from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParser
from django.shortcuts import get_object_or_404
from django.utils.datastructures import ImmutableList
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .forms import JobForm
from .kinds import KINDS
from .selectors import jobs_visible_to
from .services import Owner


def owner_of(request, *, create_session: bool = False) -> Owner:
    """The requester. An anonymous visitor who creates a job gets a session so that their jobs
    stay theirs; reading needs none, so a cookieless read stores no session row."""
    if create_session and not request.session.session_key:
        request.session.save()
    return Owner(user=request.user, session_key=request.session.session_key or "")


def _flag_file_names_with_folders(request) -> list[str]:
    """Parse multipart uploads noting names with folder parts, which Django would silently strip."""
    flagged: list[str] = []

    class FlaggingParser(MultiPartParser):
        def sanitize_file_name(self, file_name):
            plain = html.unescape(file_name)
            if "/" in plain or "\\" in plain or plain in {".", ".."}:
                flagged.append(plain)
            return super().sanitize_file_name(file_name)

    def parse_file_upload(meta, post_data):
        request.upload_handlers = ImmutableList(request.upload_handlers, warning="too late")
        return FlaggingParser(meta, post_data, request.upload_handlers, request.encoding).parse()

    request.parse_file_upload = parse_file_upload
    return flagged


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# The API is for scripts as well as pages; SameSite=Lax session cookies keep cross-site posts out
# of a visitor's session, so a forged request can only create a job nobody else sees.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def job_collection(request):
    if request.method == "GET":
        jobs = jobs_visible_to(owner_of(request))[:100]
        return JsonResponse({"jobs": [job.as_json() for job in jobs]})
    flagged = _flag_file_names_with_folders(request)
    form = JobForm(request.POST, request.FILES)
    if getattr(request, "upload_refusal", None):  # set by SizeLimitedUploadHandler while parsing
        return _error(request.upload_refusal, status=413)
    kind = KINDS.get(request.POST.get("kind", ""))
    if kind is not None and kind.staff_only and not request.user.is_staff:
        return _error(f"{kind.name} jobs are for staff only; sign in as staff", status=403)
    if flagged:
        return _error(f"file name '{flagged[0]}' must not contain folder parts")
    if not form.is_valid():
        return _error(form.first_error())
    job = form.create_job(owner_of(request, create_session=True))
    return JsonResponse(job.as_json(), status=201)


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def job_detail(request, job_id):
    job = get_object_or_404(jobs_visible_to(owner_of(request)), pk=job_id)
    if request.method == "DELETE":
        services.job_delete(job=job)
        return HttpResponse(status=204)
    return JsonResponse(job.as_json())


@csrf_exempt
@require_POST
def job_cancel(request, job_id):
    job = get_object_or_404(jobs_visible_to(owner_of(request)), pk=job_id)
    if job.is_finished:
        return _error(f"job {job.id} has already finished ({job.status})", status=409)
    return JsonResponse(services.job_cancel(job=job).as_json())


def job_output(request, job_id, name):
    job = get_object_or_404(jobs_visible_to(owner_of(request)), pk=job_id)
    path = job.output_path(name)
    if path is None or not path.is_file():
        raise Http404(f"job {job.id} has no output named {name}")
    return FileResponse(path.open("rb"), as_attachment="download" in request.GET, filename=name)
