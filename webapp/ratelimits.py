"""Rate limits on job submissions and rater posts, per browser session and per client address.

The policy is here, in one place: the middleware limits POSTs to the views it names; the demo's
Gradio submissions, which pass no Django view, call `over_limit` themselves.

Counting is django-ratelimit's, in the default cache (Redis in production, so that every web
process sees the same counts). Rates come from settings (`SYNCLAB_RATE_*`, "N/s|m|h|d", empty for
none) and are read at each request. A request over a limit is answered 429 with a message that
names the limit and a Retry-After header.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django_ratelimit.core import get_usage

# group -> (what it counts, {scope: setting holding the rate})
LIMITS = {
    "jobs": (
        "job submissions",
        {"session": "SYNCLAB_RATE_JOBS_SESSION", "address": "SYNCLAB_RATE_JOBS_IP"},
    ),
    "rater": (
        "answers and player reports",
        {"session": "SYNCLAB_RATE_RATER_SESSION", "address": "SYNCLAB_RATE_RATER_IP"},
    ),
}


def _session_key(group, request) -> str:
    session = getattr(request, "session", None)
    return (session.session_key if session is not None else None) or ""


KEYS = {"session": _session_key, "address": "ip"}  # "ip" honours RATELIMIT_IP_META_KEY


class Refusal:
    """Why a request is over a limit, and when the window that counts it ends."""

    def __init__(self, message: str, retry_after: int):
        self.message = message
        self.retry_after = retry_after


def over_limit(request, group: str) -> Refusal | None:
    """Count the request against each of the group's limits; the refusal for the first one it
    exceeds, or None. A request without a session counts only against its address."""
    what, rates = LIMITS[group]
    for scope, setting in rates.items():
        rate = getattr(settings, setting)
        if not rate or (scope == "session" and not _session_key(group, request)):
            continue
        usage = get_usage(
            request, group=f"{group}:{scope}", key=KEYS[scope], rate=rate, increment=True
        )
        if usage and usage["should_limit"]:
            wait = max(int(usage["time_left"]), 1)
            source = "browser session" if scope == "session" else "address"
            return Refusal(
                f"too many {what} from this {source} (at most {rate}); try again in {wait} s", wait
            )
    return None


def too_many(refusal: Refusal, *, as_json: bool) -> HttpResponse:
    if as_json:
        response = JsonResponse({"error": refusal.message}, status=429)
    else:
        response = HttpResponse(
            refusal.message.capitalize() + ".", status=429, content_type="text/plain"
        )
    response["Retry-After"] = str(refusal.retry_after)
    return response


# Views whose POSTs are limited, by URL name: group, and whether the answer is JSON.
LIMITED_VIEWS = {
    "jobs:collection": ("jobs", True),
    "annotation:entry": ("rater", False),
    "annotation:qualification": ("rater", False),
    "annotation:instructions": ("rater", False),
    "annotation:trial": ("rater", False),
    "annotation:play": ("rater", True),  # the player posts these with fetch()
}


class RateLimitMiddleware:
    """Counts each POST to a view of LIMITED_VIEWS; one over a limit never reaches the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limited = LIMITED_VIEWS.get(request.resolver_match.view_name)
        if request.method != "POST" or limited is None:
            return None
        group, as_json = limited
        refusal = over_limit(request, group)
        return too_many(refusal, as_json=as_json) if refusal else None
