"""Hand media files to the reverse proxy: behind nginx (SYNCLAB_ACCEL_REDIRECT set), a file
response for a file under MEDIA_ROOT becomes an empty one whose X-Accel-Redirect header names the
file, and nginx sends it, byte ranges included, after Django has checked who may have it."""

from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse

# Headers of Django's response that nginx keeps on the file it sends in its place.
KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control")


class AccelRedirectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        prefix = settings.SYNCLAB_ACCEL_REDIRECT
        if not prefix:
            return self.get_response(request)
        # nginx answers a Range header on the file itself: the view sends the whole file's
        # response, which costs nothing when it is swapped for the header below.
        request.META.pop("HTTP_RANGE", None)
        response = self.get_response(request)
        relative = _media_path(response)
        if relative is None:
            return response
        response.close()
        redirected = HttpResponse(status=response.status_code)
        for header in KEPT_HEADERS:
            if header in response:
                redirected[header] = response[header]
        redirected["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(relative.as_posix())
        return redirected


def _media_path(response) -> Path | None:
    """The file a FileResponse streams, relative to MEDIA_ROOT; None for anything else."""
    name = getattr(getattr(response, "file_to_stream", None), "name", None)
    if not isinstance(response, FileResponse) or not isinstance(name, str):
        return None
    path = Path(name).resolve()
    root = Path(settings.MEDIA_ROOT).resolve()
    return path.relative_to(root) if path.is_relative_to(root) else None
