"""Django sessions and users for requests that do not pass through Django's middleware (Gradio's).

Everything goes through the configured SESSION_ENGINE, SESSION_COOKIE_* settings and
`django.contrib.auth.get_user`, so a deactivated user or a changed password ends access at once.
"""

from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie

from webapp.jobs.services import Owner


def cookies_from_headers(headers) -> dict[str, str]:
    """The cookies of an ASGI scope's raw headers, parsed as Django parses them."""
    joined = "; ".join(v.decode("latin-1") for k, v in headers if k.lower() == b"cookie")
    return parse_cookie(joined)


def session_store(session_key: str | None = None) -> SessionBase:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def existing_session_key(cookies: dict[str, str]) -> str:
    """The session key of the cookie when the engine still holds that session, else ""."""
    key = cookies.get(settings.SESSION_COOKIE_NAME, "")
    if not key:
        return ""
    store = session_store(key)
    store.load()  # an unknown or expired key leaves the store without one
    return store.session_key or ""


def owner_from_cookies(cookies: dict[str, str]) -> Owner:
    """The requester as the jobs app sees it: the user `auth.get_user` finds, and the session."""
    session_key = existing_session_key(cookies)
    if not session_key:
        return Owner()
    request = HttpRequest()
    request.COOKIES = cookies
    request.session = session_store(session_key)
    user = auth.get_user(request)  # flushes the session of a user whose password changed
    return Owner(
        user=user if user.is_authenticated else None,
        session_key=request.session.session_key or "",
    )


def new_session() -> tuple[str, str]:
    """Store an empty session; return its key and the Set-Cookie value Django would send for it."""
    store = session_store()
    store.save()
    response = HttpResponse()
    expire_at_close = settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    response.set_cookie(
        settings.SESSION_COOKIE_NAME,
        store.session_key,
        max_age=None if expire_at_close else settings.SESSION_COOKIE_AGE,
        domain=settings.SESSION_COOKIE_DOMAIN,
        path=settings.SESSION_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE or None,
        httponly=settings.SESSION_COOKIE_HTTPONLY or None,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
    cookie = response.cookies[settings.SESSION_COOKIE_NAME].OutputString()
    return store.session_key, cookie
