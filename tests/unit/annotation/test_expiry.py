"""Session timeout: overdue sessions are abandoned (or completed), give their block back, leave the
metrics and cannot be resumed; the rater pages, new entries and a command expire them."""

import io
import random
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from annotation import analysis, errors, responses, selectors, services, sessions
from annotation.models import Response, Session

from .factories import grid, watched


@pytest.fixture
def study(db):
    # One system and two utterances: a single block of two clips, wanted once.
    study = services.study_create(
        slug="timed",
        title="Timed",
        platform="prolific",
        stimuli_per_session=2,
        votes_per_stimulus=1,
        session_ttl_minutes=30,
        questions=[{"key": "realness", "prompt": "Real?"}],
    )
    grid(study, ["sysA"], ["u0", "u1"])
    return study


def enter(study, pid, **platform_fields):
    return sessions.rater_enter(
        study=study, platform="prolific", external_id=pid, rng=random.Random(0), **platform_fields
    )


def age(session, minutes):
    """Move the session's consent `minutes` into the past."""
    consented = timezone.now() - timedelta(minutes=minutes)
    Session.objects.filter(pk=session.pk).update(consented_at=consented)
    session.refresh_from_db()


def answer(session, item):
    responses.response_record(session=session, item=watched(session, item), answers={"realness": 4})


def test_overdue_session_is_abandoned_with_its_reason_and_keeps_its_answers(study):
    session = enter(study, "p0")
    answer(session, session.items.first())
    age(session, 31)
    expired = sessions.session_expire(session=session)
    assert expired.status == Session.Status.ABANDONED
    assert expired.qc_verdict == Session.Verdict.EXCLUDE
    assert [r["check"] for r in expired.qc_reasons] == ["abandoned"]
    assert "30 minutes; 1 of 2 clips answered" in expired.qc_reasons[0]["detail"]
    assert Response.objects.filter(session=session).count() == 1
    assert not analysis.used_responses(study).exists()


def test_session_within_its_timeout_is_left_alone(study):
    session = enter(study, "p0")
    age(session, 29)
    assert sessions.session_expire(session=session).status == Session.Status.CONSENTED


def test_overdue_session_with_every_clip_answered_is_completed_not_abandoned(study):
    session = enter(study, "p0")
    for item in session.items.all():
        answer(session, item)
    age(session, 31)
    expired = sessions.session_expire(session=session)
    assert expired.status == Session.Status.COMPLETED
    assert analysis.used_responses(study).count() == 2


def test_abandoned_block_goes_to_the_next_rater(study):
    first = enter(study, "p0")
    with pytest.raises(errors.StudyFull):
        enter(study, "p1")
    age(first, 31)
    second = enter(study, "p2")
    assert second.block == first.block
    first.refresh_from_db()
    assert first.status == Session.Status.ABANDONED


def test_overdue_session_takes_no_more_answers(study):
    session = enter(study, "p0")
    age(session, 31)
    with pytest.raises(errors.SessionClosed):
        answer(session, session.items.first())
    assert not Response.objects.exists()


def browser_in_session(study):
    client = Client()
    client.get("/study/timed/?PROLIFIC_PID=P1&SESSION_ID=S1")
    client.post("/study/timed/", {"consent": "yes"})
    session = Session.objects.get()
    client.post(f"/study/s/{session.pk}/instructions/")
    return client, session


def test_rater_of_an_overdue_session_gets_a_clear_page_and_cannot_answer(study):
    client, session = browser_in_session(study)
    trial = client.get(f"/study/s/{session.pk}/")["Location"]
    age(session, 31)
    assert client.post(trial, {"realness": 3})["Location"] == f"/study/s/{session.pk}/"
    page = client.get(f"/study/s/{session.pk}/")
    assert page.status_code == 410
    assert re.search(r"expired.*30 minutes.*cannot be resumed", page.content.decode(), re.S)
    assert not Response.objects.exists()
    assert Session.objects.get().status == Session.Status.ABANDONED


def test_reopening_the_prolific_link_after_the_timeout_does_not_resume(study):
    client, session = browser_in_session(study)
    age(session, 31)
    page = Client().get("/study/timed/?PROLIFIC_PID=P1&SESSION_ID=S1")
    assert page.status_code == 410 and b"expired" in page.content
    assert client.get(f"/study/s/{session.pk}/instructions/").status_code == 302


def test_command_expires_overdue_sessions_and_counts_them(study):
    study.votes_per_stimulus = 2
    study.save()
    stale, fresh = enter(study, "p0"), enter(study, "p1")
    age(stale, 31)
    age(fresh, 5)
    out = io.StringIO()
    call_command("expire_sessions", "--study", "timed", stdout=out)
    assert out.getvalue().strip() == "abandoned 1 session(s), completed 0"
    counts = selectors.session_counts(study)
    assert (counts["abandoned"], counts["live"], counts["stale"]) == (1, 1, 0)


def test_command_names_an_unknown_study(db):
    with pytest.raises(CommandError, match="no study with the slug 'nope'"):
        call_command("expire_sessions", "--study", "nope")
