"""What a rater does with one clip of their session: the player's events and the answers.

Responses are append-only, one per session x stimulus x question; the play count and the
played-to-end flag come from the server's record of the player, never from the form.
"""

from django.db.models import F
from django.utils import timezone

from .errors import InvalidAnswer, NotInSession, PlayRefused, SessionClosed
from .models import Question, Response, Session, SessionItem, Stimulus
from .selectors import section_questions

# The player posts `play` and `ended` separately; network jitter may bring `ended` this much
# sooner after `play` than the clip lasts.
ENDED_SLACK_S = 0.5


def play_record(*, session: Session, item: SessionItem, event: str, now=None) -> SessionItem:
    """Record the player's `play` or `ended` event for one clip of the session.

    A play beyond the study's `max_plays` is refused (practice clips have no limit). `ended`
    counts only after a recorded play, and no sooner than the clip's length after it, so a form
    or a script cannot claim a clip was watched that never played.
    """
    if item.session_id != session.pk:
        raise NotInSession("this clip is not part of your session")
    if session.status not in Session.LIVE or session.is_overdue():
        raise SessionClosed("this session is finished or has expired")
    now = now or timezone.now()
    rows = SessionItem.objects.filter(pk=item.pk)
    if event == "play":
        limit = 0 if item.stimulus.role == Stimulus.Role.PRACTICE else session.study.max_plays
        # The count and the limit meet in one UPDATE: two plays racing cannot both slip under.
        allowed = rows.filter(plays__lt=limit) if limit else rows
        if not allowed.update(plays=F("plays") + 1, last_play_at=now):
            raise PlayRefused(
                f"you have played this clip {limit} time{'s' if limit > 1 else ''}, "
                "the most this study allows"
            )
        # The caller's copy, without a re-read: a twin play racing this one may make the count
        # one low, but the limit above is the database's.
        item.plays, item.last_play_at = item.plays + 1, now
    elif event == "ended":
        if item.last_play_at is None:
            raise InvalidAnswer("this clip has not been played")
        elapsed = (now - item.last_play_at).total_seconds()
        length = item.stimulus.duration_s
        if length and elapsed < length - ENDED_SLACK_S:
            raise InvalidAnswer(
                f"the clip lasts {length:.1f} s but ended {elapsed:.1f} s after it started; "
                "play it to the end"
            )
        rows.update(played_to_end=True)
        item.played_to_end = True
    elif event == "interrupted":
        # The page went out of sight, or the sound off where it matters: this play no longer
        # counts towards "played to the end"; the next full play does.
        rows.filter(played_to_end=False).update(last_play_at=None)
        if not item.played_to_end:
            item.last_play_at = None
    else:
        raise InvalidAnswer(f"unknown player event {event!r}; use play, ended or interrupted")
    return item


def response_record(
    *,
    session: Session,
    item: SessionItem,
    answers: dict,
    time_on_item_s: float | None = None,
) -> bool:
    """Store the answers to every question for one clip of the session; whether they were new.

    The play count and played-to-end flag come from the server's record of the player
    (`play_record`), not from the form. A repeat of an answered item stores nothing: responses
    are append-only. Twin posts racing each other both store nothing twice (the unique
    constraint decides); both may then report the rows as new.
    """
    if item.session_id != session.pk:
        raise NotInSession("this clip is not part of your session")
    questions = section_questions(session.study, item.stimulus.section)
    stored = Response.objects.filter(session=session, stimulus_id=item.stimulus_id).count()
    if stored >= len(questions):
        return False
    if session.status not in Session.LIVE or session.is_overdue():
        raise SessionClosed("this session is finished or has expired")
    if session.study.require_played_to_end and not item.played_to_end:
        raise InvalidAnswer("play the clip to its end before answering")
    missing = [q.key for q in questions if q.key not in answers]
    if missing:
        raise InvalidAnswer(f"answer every question (missing: {', '.join(missing)})")
    common = {
        "play_count": item.plays,
        "played_to_end": item.played_to_end,
        "time_on_item_s": time_on_item_s,
        "position": item.position,
    }
    fresh = [
        Response(
            session=session,
            stimulus_id=item.stimulus_id,
            question=question,
            **common,
            **_checked_value(question, answers[question.key]),
        )
        for question in questions
    ]
    # One INSERT .. ON CONFLICT DO NOTHING, atomic by itself: a concurrent twin of this post
    # inserts nothing, and no transaction holds locks across round trips.
    Response.objects.bulk_create(fresh, ignore_conflicts=True)
    return True


def _checked_value(question: Question, raw) -> dict:
    if question.kind == Question.Kind.TEXT:
        return {"transcript": str(raw or "").strip()[:2000]}
    if question.kind == Question.Kind.TOKENS:
        ticked = [raw] if isinstance(raw, str) else list(raw or [])
        unknown = [t for t in ticked if t not in question.anchors]
        if unknown:
            raise InvalidAnswer(f"{question.key}: {unknown[0]!r} is not one of its tokens")
        return {"tokens": ticked}
    if question.kind == Question.Kind.PREFERENCE:
        if str(raw) not in {"0", "1"}:
            raise InvalidAnswer(f"{question.key}: choose the left or the right video")
        return {"value": float(raw)}
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidAnswer(f"{question.key}: choose a rating") from exc
    if not (question.scale_min <= value <= question.scale_max) or value != int(value):
        raise InvalidAnswer(
            f"{question.key}: {raw!r} is not on the scale {question.scale_min}-{question.scale_max}"
        )
    return {"value": value}
