"""Rater pages: entry, consent, qualification, instructions and practice, training with
feedback, trials, the end; clips by token.

A browser may open only the sessions it entered (their ids are kept in its Django session), and
reaches clips through per-item random tokens, so neither a URL nor a page names a system, an
utterance or another rater. Prolific and MTurk conventions follow annotation-research.md §6.
"""

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from werkzeug.datastructures import ContentRange
from werkzeug.http import parse_range_header

from . import errors, qc, qualification, responses, selectors, sessions
from .forms import ENTRY_FORMS, QualificationForm, TrialForm
from .media import MediaError, speech_wav
from .models import Question, Session, SessionItem, Stimulus, Study
from .questions import KIND_HELP
from .transcripts import word_error_rate

SESSIONS_KEY = "annotation_sessions"  # ids of the sessions this browser may open
ENTRY_KEY = "annotation_entry"  # {study slug: identity}, from the entry page to the consent post
ANONYMOUS_KEY = "annotation_anonymous"  # {study slug: random id} of plain-link raters
PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete"


def _grant(request, session: Session) -> None:
    owned = request.session.get(SESSIONS_KEY, [])
    if str(session.pk) not in owned:
        request.session[SESSIONS_KEY] = [*owned, str(session.pk)]


def _check_owner(request, session_id) -> None:
    # 404, not 403: a stranger learns nothing, not even that the session exists.
    if str(session_id) not in request.session.get(SESSIONS_KEY, []):
        raise Http404("no such session")


def _expire_if_overdue(session: Session) -> Session:
    # Overdue sessions are expired on first sight, whichever page sees them.
    return sessions.session_expire(session=session) if session.is_overdue() else session


def _owned_session(request, session_id) -> Session:
    """The browser's own session, with its study's questions (one query for every later
    `session.study.questions.all()` or `.count()` of this request)."""
    _check_owner(request, session_id)
    owned = Session.objects.select_related("study", "rater").prefetch_related("study__questions")
    return _expire_if_overdue(get_object_or_404(owned, pk=session_id))


def _owned_item(request, session_id, token, *, questions: bool = True) -> SessionItem:
    """One clip of the browser's own session, fetched with its session and study in one query
    (the rater's hot path: every trial page, answer and play report)."""
    _check_owner(request, session_id)
    items = SessionItem.objects.select_related("session__study", "session__rater", "stimulus")
    if questions:
        items = items.prefetch_related("session__study__questions")
    item = get_object_or_404(items, session_id=session_id, token=token)
    item.session = _expire_if_overdue(item.session)
    return item


def _expired(request, session: Session):
    minutes = session.study.session_ttl_minutes
    message = (
        f"This session has expired: it was not finished within {minutes} minutes, so its clips "
        "went to other participants. It cannot be resumed, and a new one cannot be started."
    )
    return _refuse(request, session.study, message, status=410)


def _refuse(request, study, message: str, status: int = 409):
    return render(
        request, "annotation/refused.html", {"study": study, "message": message}, status=status
    )


def _identity(request, study) -> tuple[dict | None, bool, str]:
    """(identity, is_preview, error) from the crowd platform's URL parameters."""
    form_class = ENTRY_FORMS.get(study.platform)
    if form_class is None:
        anonymous = request.session.get(ANONYMOUS_KEY, {})
        if study.slug not in anonymous:
            anonymous[study.slug] = secrets.token_urlsafe(12)
            request.session[ANONYMOUS_KEY] = anonymous
        return {"external_id": anonymous[study.slug]}, False, ""
    form = form_class(request.GET)
    if not form.is_valid():
        problem = next(iter(form.errors.values()))[0]
        name = study.get_platform_display()
        return None, False, f"Please open this study from {name}: {problem}"
    if getattr(form, "is_preview", False):
        return None, True, ""
    return form.identity(), False, ""


@never_cache
@require_http_methods(["GET", "POST"])
def entry(request, slug):
    study = get_object_or_404(Study, slug=slug)
    if request.method == "POST":
        return _consent(request, study)
    identity, preview, error = _identity(request, study)
    if error:
        return _refuse(request, study, error, status=400)
    if preview:
        return render(request, "annotation/preview.html", {"study": study})
    existing = Session.objects.filter(
        rater__study=study,
        rater__platform=study.platform,
        rater__external_id=identity["external_id"],
    ).first()
    if existing is not None:
        # An unfinished attempt resumes in its own browser or under its own Prolific SESSION_ID
        # (a reload, a dropped connection); anything else is a second participation.
        same_attempt = str(existing.pk) in request.session.get(SESSIONS_KEY, []) or (
            existing.platform_session_id
            and existing.platform_session_id == identity.get("platform_session_id")
        )
        if same_attempt and existing.is_overdue():
            existing = sessions.session_expire(session=existing)
        if same_attempt and existing.status == Session.Status.ABANDONED:
            return _expired(request, existing)
        if same_attempt and existing.status != Session.Status.COMPLETED:
            _grant(request, existing)
            return redirect(existing)
        return _refuse(request, study, "You have already taken part in this study.")
    if not study.is_open:
        return _refuse(request, study, "This study is closed.", status=410)
    request.session[ENTRY_KEY] = {**request.session.get(ENTRY_KEY, {}), study.slug: identity}
    return render(request, "annotation/consent.html", {"study": study})


def _consent(request, study):
    identity = request.session.get(ENTRY_KEY, {}).get(study.slug)
    if identity is None:
        return _refuse(request, study, "Your visit expired; please open the study link again.", 400)
    if request.POST.get("consent") != "yes":
        return render(request, "annotation/declined.html", {"study": study})
    try:
        session = sessions.rater_enter(
            study=study,
            platform=study.platform,
            user_agent=request.headers.get("User-Agent", "")[:300],
            **identity,
        )
    except errors.AlreadyParticipated as exc:
        if exc.session and str(exc.session.pk) in request.session.get(SESSIONS_KEY, []):
            return redirect(exc.session)
        return _refuse(request, study, "You have already taken part in this study.")
    except errors.AnnotationError as exc:
        return _refuse(request, study, str(exc), status=410)
    _grant(request, session)
    return redirect(session)


@never_cache
@require_GET
def session_home(request, session_id):
    """Send the rater to wherever the session stands: instructions, next clip or the end."""
    session = _owned_session(request, session_id)
    if session.status == Session.Status.ABANDONED:
        return _expired(request, session)
    return _next_step(session)


def _needs_qualification(session: Session) -> bool:
    return bool(qualification.checks(session.study)) and session.qualified_at is None


def _next_step(session: Session):
    if session.status not in Session.LIVE:
        return redirect("annotation:done", session.pk)
    if _needs_qualification(session):
        return redirect("annotation:qualification", session.pk)
    if session.started_at is None:
        return redirect("annotation:instructions", session.pk)
    pending = selectors.session_pending_items(session).first()
    if pending is None:
        sessions.session_complete(session=session)
        return redirect("annotation:done", session.pk)
    return redirect("annotation:trial", session.pk, pending.token)


@never_cache
@require_http_methods(["GET", "POST"])
def qualification_page(request, session_id):
    """The display and audio checks; a rater who fails is screened out."""
    session = _owned_session(request, session_id)
    if session.status not in Session.LIVE or not _needs_qualification(session):
        return redirect(session)
    checks = qualification.checks(session.study)
    form = QualificationForm(request.POST or None, checks=checks)
    if request.method == "POST" and form.is_valid():
        try:
            sessions.session_qualify(session=session, answers=form.cleaned_data)
        except errors.SessionClosed:
            pass
        return redirect(session)
    if "audio" in checks:
        qualification.spoken_number(session)
    context = {
        "study": session.study,
        "session": session,
        "display_check": "display" in checks,
        "audio_check": "audio" in checks,
        "form": form,
    }
    return render(request, "annotation/qualification.html", context)


@never_cache
@require_GET
def qualification_audio(request, session_id):
    """The audio check's number, spoken by espeak-ng."""
    session = _owned_session(request, session_id)
    if session.status not in Session.LIVE or "audio" not in qualification.checks(session.study):
        raise Http404("no audio check")
    number = qualification.spoken_number(session)
    try:
        wav = speech_wav(f"The number is {number}. Again: {number}.")
    except MediaError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return HttpResponse(wav, content_type="audio/wav", headers={"Cache-Control": "no-store"})


def _question_groups(study) -> list[dict]:
    """The study's sections in order, each with its questions and whether it plays muted."""
    groups = {}
    for q in study.questions.all():
        group = groups.setdefault(q.section, {"section": q.section, "questions": []})
        group["questions"].append(q)
    for group in groups.values():
        group["muted"] = selectors.section_is_muted(study, group["section"])
        kinds = dict.fromkeys(q.kind for q in group["questions"])
        group["kind_help"] = [KIND_HELP[k] for k in kinds]
    return list(groups.values())


@never_cache
@require_http_methods(["GET", "POST"])
def instructions(request, session_id):
    session = _owned_session(request, session_id)
    if session.status not in Session.LIVE or _needs_qualification(session):
        return redirect(session)
    if request.method == "POST":
        session.mark_started()
        return redirect(session)
    practice = (
        session.items.filter(stimulus__role=Stimulus.Role.PRACTICE)
        .select_related("stimulus")
        .first()
    )
    section = practice.stimulus.section if practice else "main"
    context = {
        "study": session.study,
        "session": session,
        "practice": practice,
        "questions": selectors.section_questions(session.study, section),
        "groups": _question_groups(session.study),
        "muted": selectors.section_is_muted(session.study, section),
        "training": session.items.filter(stimulus__role=Stimulus.Role.TRAINING).count(),
    }
    return render(request, "annotation/instructions.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def trial(request, session_id, token):
    item = _owned_item(request, session_id, token)
    session = item.session
    if session.status not in Session.LIVE:
        return redirect(session)
    if session.started_at is None:
        return _next_step(session)
    questions = selectors.section_questions(session.study, item.stimulus.section)
    error, status = "", 200
    form = TrialForm(request.POST or None, questions=questions)
    if request.method == "POST":
        if form.is_valid():
            try:
                responses.response_record(
                    session=session,
                    item=item,
                    answers=form.answers(),
                    time_on_item_s=form.cleaned_data["time_on_item_s"],
                )
                if item.stimulus.role == Stimulus.Role.TRAINING:
                    return _feedback(request, session, item, questions, form.answers())
                return _next_step(session)  # straight to the next clip: one round trip less
            except errors.SessionClosed:
                return redirect(session)
            except errors.AnnotationError as exc:
                error = str(exc)
        else:
            error = form.first_error()
        status = 400
    # "Clip n of N" counts the clips that are rated; training clips say so instead.
    unrated = [Stimulus.Role.PRACTICE, Stimulus.Role.TRAINING]
    trials = session.items.exclude(stimulus__role__in=unrated).aggregate(
        total=Count("pk"), before=Count("pk", filter=Q(position__lt=item.position))
    )
    training = item.stimulus.role == Stimulus.Role.TRAINING
    context = {
        "study": session.study,
        "session": session,
        "item": item,
        "questions": questions,
        "has_text": any(q.kind == Question.Kind.TEXT for q in questions),
        "muted": selectors.section_is_muted(session.study, item.stimulus.section),
        "training": training,
        "number": trials["before"] + 1,
        "total": trials["total"],
        "error": error,
    }
    return render(request, "annotation/trial.html", context, status=status)


def _feedback(request, session, item, questions, answers):
    """After a training clip: each answer beside the expected one, and the clip's note."""
    gold = qc.checks_config(session.study)["gold"] or qc.DEFAULTS["gold"]
    tolerance, max_wer = float(gold["tolerance"]), float(gold["max_wer"])
    rows = []
    for q in questions:
        expected = item.stimulus.gold_answers.get(q.key)
        if expected is None:
            continue
        given = answers.get(q.key)
        if q.kind == Question.Kind.TEXT:
            wer = word_error_rate(str(expected), str(given or ""))
            good = wer is not None and wer <= max_wer
            shown, want = given or "(nothing)", str(expected)
        else:
            labels = dict(q.choices())
            good = given is not None and abs(float(given) - float(expected)) <= tolerance
            shown = f"{given} ({labels.get(given, '')})"
            want = f"{expected} ({labels.get(int(expected), '')})"
            if tolerance:
                want += f", give or take {tolerance:g}"
        rows.append({"prompt": q.prompt, "given": shown, "expected": want, "good": good})
    context = {"study": session.study, "session": session, "rows": rows, "item": item}
    return render(request, "annotation/feedback.html", context)


@never_cache
@require_POST
def play(request, session_id, token):
    """The player reports `event` = play (refused past the study's limit) or ended."""
    item = _owned_item(request, session_id, token, questions=False)
    session = item.session
    try:
        item = responses.play_record(session=session, item=item, event=request.POST.get("event"))
    except errors.PlayRefused as exc:
        return _player_error(exc, 409)
    except errors.SessionClosed as exc:
        return _player_error(exc, 410)
    except errors.AnnotationError as exc:
        return _player_error(exc, 400)
    body = {
        "plays": item.plays,
        "max_plays": session.study.max_plays,
        "played_to_end": item.played_to_end,
    }
    return JsonResponse(body)


def _player_error(exc, status: int) -> JsonResponse:
    message = str(exc)
    return JsonResponse({"error": message[:1].upper() + message[1:] + "."}, status=status)


@never_cache
@require_GET
def done(request, session_id):
    session = _owned_session(request, session_id)
    screened_out = session.status == Session.Status.SCREENED_OUT
    if session.status != Session.Status.COMPLETED and not screened_out:
        return redirect(session)
    context = {
        "study": session.study,
        "session": session,
        "code": session.completion_code,
        "screened_out": screened_out,
        "reasons": (session.qualification or {}).get("failures", []),
    }
    # A screened-out rater without a screen-out code gets the explanation only.
    has_code = bool(session.completion_code) or not screened_out
    if has_code and session.rater.platform == Study.Platform.PROLIFIC:
        base = getattr(settings, "ANNOTATION_PROLIFIC_COMPLETE_URL", PROLIFIC_COMPLETE_URL)
        context["redirect_url"] = f"{base}?{urlencode({'cc': session.completion_code})}"
    elif has_code and session.rater.platform == Study.Platform.MTURK and session.turk_submit_to:
        context["mturk_action"] = session.turk_submit_to.rstrip("/") + "/mturk/externalSubmit"
    return render(request, "annotation/done.html", context)


def _file_span(path: str, start: int, stop: int, chunk: int = 64 * 1024):
    """The bytes [start, stop) of the file at `path`, a chunk at a time."""
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = stop - start
        while remaining > 0 and (data := fh.read(min(chunk, remaining))):
            remaining -= len(data)
            yield data


@require_GET
def media(request, token):
    """One clip of the browser's own session, with byte ranges (Safari plays video only so).

    werkzeug parses the Range header; a request for several ranges, or in other units, gets the
    whole clip, as RFC 9110 allows. Behind nginx, `webapp.accel` drops the Range header and
    swaps the whole clip's FileResponse for an X-Accel-Redirect: nginx serves the ranges.
    """
    item = get_object_or_404(SessionItem.objects.select_related("stimulus"), token=token)
    if str(item.session_id) not in request.session.get(SESSIONS_KEY, []) or not item.stimulus.media:
        raise Http404("no such clip")
    path = item.stimulus.media.path
    size = item.stimulus.media.size
    wanted = parse_range_header(request.headers.get("Range"))
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        response = FileResponse(open(path, "rb"), content_type="video/mp4")
    else:
        span = wanted.range_for_length(size)
        if span is None:
            unsatisfied = ContentRange("bytes", None, None, size).to_header()
            return HttpResponse(status=416, headers={"Content-Range": unsatisfied})
        start, stop = span
        response = StreamingHttpResponse(
            _file_span(path, start, stop), status=206, content_type="video/mp4"
        )
        response["Content-Range"] = wanted.to_content_range_header(size)
        response["Content-Length"] = str(stop - start)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
