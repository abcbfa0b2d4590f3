"""A rater's session from entry to end: assignment, qualification, completion and expiry.

Assignment follows annotation-research.md §9: the least-filled Latin-square block first, counting
unexpired sessions as psiTurk does, gold and trap items mixed in, and a shuffled order per
session. An overdue session is expired on first sight, so that it gives its block back.
"""

import random
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from . import qc, qualification
from .design import study_blocks
from .errors import (
    AlreadyParticipated,
    AnnotationError,
    InvalidAnswer,
    SessionClosed,
    StudyClosed,
    StudyFull,
)
from .models import Rater, Session, SessionItem, Stimulus, Study
from .selectors import block_fill, session_pending_items


def rater_enter(
    *, study: Study, platform: str, external_id: str, rng=None, **platform_fields
) -> Session:
    """Register a rater and assign a session; a rater who already took part is refused."""
    if not study.is_open:
        raise StudyClosed("this study is closed")
    if not external_id:
        raise AnnotationError("a participant id is needed to take part")
    with transaction.atomic():
        # One assignment at a time per study, so that concurrent raters spread over the blocks.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        existing = Session.objects.filter(
            rater__study=study, rater__platform=platform, rater__external_id=external_id
        ).first()
        if (
            existing is not None
            or Rater.objects.filter(
                study=study, platform=platform, external_id=external_id
            ).exists()
        ):
            raise AlreadyParticipated("you have already taken part in this study", existing)
        rater = Rater.objects.create(study=study, platform=platform, external_id=external_id)
        return session_assign(study=study, rater=rater, rng=rng, **platform_fields)


def session_assign(*, study: Study, rater: Rater, rng=None, **platform_fields) -> Session:
    """Create the rater's session: the least-filled block, gold and trap items, shuffled.

    The practice clip comes first, then the training clips, then the trials section by section
    (in the order of the sections' questions, so the sound goes off once, for lip reading),
    shuffled within each section.
    """
    rng = rng or random.SystemRandom()
    # Overdue sessions give their blocks back before the least-filled one is chosen.
    sessions_expire_overdue(study=study)
    blocks = study_blocks(study)
    if not blocks:
        raise StudyClosed("this study has no stimuli yet")
    fill = block_fill(study)
    least = min(fill.get(g, 0) for g in range(len(blocks)))
    if least >= study.votes_per_stimulus:
        raise StudyFull("this study has all the ratings it needs; thank you for your interest")
    candidates = [g for g in range(len(blocks)) if fill.get(g, 0) == least]
    block = rng.choice(candidates)
    trials = list(blocks[block])
    for role, count in [
        (Stimulus.Role.GOLD, study.gold_per_session),
        (Stimulus.Role.TRAP, study.traps_per_session),
    ]:
        pool = list(Stimulus.objects.filter(study=study, role=role).values_list("pk", flat=True))
        trials += rng.sample(pool, min(count, len(pool)))
    section_of = dict(Stimulus.objects.filter(pk__in=trials).values_list("pk", "section"))
    rank = {}
    for q in study.questions.order_by("order", "id"):
        rank.setdefault(q.section, len(rank))
    rng.shuffle(trials)
    trials.sort(key=lambda pk: rank.get(section_of[pk], len(rank)))  # stable: shuffled within
    practice = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.PRACTICE).values_list(
            "pk", flat=True
        )[:1]
    )
    training = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.TRAINING)
        .order_by("utterance_id", "pk")
        .values_list("pk", flat=True)
    )
    session = Session.objects.create(study=study, rater=rater, block=block, **platform_fields)
    SessionItem.objects.bulk_create(
        SessionItem(session=session, stimulus_id=pk, position=i)
        for i, pk in enumerate(practice + training + trials)
    )
    return session


def session_expire(*, session: Session, now=None) -> Session:
    """Close an overdue live session: completed if every clip has its answers, else abandoned.

    An abandoned session keeps its responses but leaves the metrics (only completed sessions
    enter them), frees its block for the next rater and cannot be resumed. Anything else is
    returned unchanged.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Session.objects.select_related("study").select_for_update(of=("self",))
        session = locked.get(pk=session.pk)
        if not session.is_overdue(now):
            return session
        pending = session_pending_items(session).count()
        if not pending:
            return session_complete(session=session)
        total = session.items.exclude(stimulus__role=Stimulus.Role.PRACTICE).count()
        session.status = Session.Status.ABANDONED
        session.finished_at = now
        session.qc_verdict = Session.Verdict.EXCLUDE
        detail = (
            f"not finished within {session.study.session_ttl_minutes} minutes; "
            f"{total - pending} of {total} clips answered"
        )
        session.qc_reasons = [{"check": "abandoned", "action": "exclude", "detail": detail}]
        session.save(update_fields=["status", "finished_at", "qc_verdict", "qc_reasons"])
    return session


def sessions_expire_overdue(*, study: Study | None = None, now=None) -> Counter:
    """Expire every overdue live session (of one study, or of all); count them by new status."""
    now = now or timezone.now()
    studies = [study] if study is not None else Study.objects.all()
    outcome = Counter()
    for each in studies:
        cutoff = now - timedelta(minutes=each.session_ttl_minutes)
        overdue = Session.objects.filter(
            study=each, status__in=Session.LIVE, consented_at__lt=cutoff
        )
        for session in overdue:
            outcome[session_expire(session=session, now=now).status] += 1
    return outcome


def session_complete(*, session: Session) -> Session:
    """Close a session whose items are all answered; run the per-session QC checks."""
    with transaction.atomic():
        session = Session.objects.select_for_update().get(pk=session.pk)
        if session.status == Session.Status.COMPLETED:
            return session
        if session_pending_items(session).exists():
            raise InvalidAnswer("some clips still need an answer")
        session.status = Session.Status.COMPLETED
        session.finished_at = timezone.now()
        session.completion_code = session.study.completion_code or _session_code()
        session.qc_verdict, session.qc_reasons = qc.session_verdict(session)
        session.save()
    return session


def session_qualify(*, session: Session, answers: dict) -> list[str]:
    """Record the rater's qualification; a failure screens the session out. Returns the
    failures (empty: qualified)."""
    with transaction.atomic():
        session = (
            Session.objects.select_related("study")
            .select_for_update(of=("self",))
            .get(pk=session.pk)
        )
        if session.status not in Session.LIVE:
            raise SessionClosed("this session is finished or has expired")
        if session.qualified_at is not None:
            return []
        failures = qualification.failures(session.study, session, answers)
        measured = {k: answers.get(k) for k in ("screen_width", "screen_height", "refresh_hz")}
        session.qualification = {
            **session.qualification,
            "display": measured,
            "heard_number": str(answers.get("heard_number", ""))[:20],
            "failures": failures,
        }
        if failures:
            session.status = Session.Status.SCREENED_OUT
            session.finished_at = timezone.now()
            session.qc_verdict = Session.Verdict.EXCLUDE
            session.qc_reasons = [
                {"check": "qualification", "action": "exclude", "detail": "; ".join(failures)}
            ]
            session.completion_code = session.study.screenout_code
        else:
            session.qualified_at = timezone.now()
        session.save()
    return failures


def _session_code() -> str:
    return f"S{random.SystemRandom().getrandbits(40):010X}"
