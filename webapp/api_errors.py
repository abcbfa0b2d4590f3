"""Every refusal under /api/ is JSON `{"error": ...}`, including Django's own 4xx pages."""

from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError

API_PREFIX = "/api/"


class JsonApiErrorsMiddleware:
    """Django answers a missing object, a wrong method or a body over its limits with an HTML page;
    a script using the API gets the same status with a JSON error naming the problem instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if request.path.startswith(API_PREFIX) and response.status_code >= 400 and not is_json:
            return JsonResponse(
                {"error": self._message(request, response)}, status=response.status_code
            )
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, Http404):
            return JsonResponse({"error": "not found (no such job, or not yours)"}, status=404)
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(
                {"error": "the form fields are too large; send files as file uploads"},
                status=413,
            )
        if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
            return JsonResponse({"error": "the request has too many fields or files"}, status=400)
        if isinstance(exception, MultiPartParserError):
            return JsonResponse({"error": f"malformed multipart body ({exception})"}, status=400)
        if isinstance(exception, PermissionDenied):
            return JsonResponse({"error": "permission denied"}, status=403)
        if isinstance(exception, SuspiciousOperation | BadRequest):
            return JsonResponse({"error": "bad request"}, status=400)
        return None

    @staticmethod
    def _message(request, response) -> str:
        if response.status_code == 405:
            return f"method {request.method} is not allowed here; use {response.get('Allow', '')}"
        if response.status_code == 404:
            return "not found"
        if response.status_code == 403:
            return "forbidden"
        if response.status_code >= 500:
            return "internal error; staff can see the details in the server log"
        return response.reason_phrase.lower()
