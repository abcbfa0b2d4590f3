"""The server's record of the player: plays counted and limited per clip, 'ended' believed only
after a play and the clip's length, and answers refused for clips not played to the end."""

import random
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation import responses, services, sessions
from annotation.models import Response, Session, SessionItem, Stimulus

from .factories import grid


@pytest.fixture
def study(db):
    study = services.study_create(
        slug="plays",
        title="Plays",
        platform="link",
        stimuli_per_session=2,
        votes_per_stimulus=5,
        max_plays=2,
        questions=[{"key": "realness", "prompt": "Real?"}],
    )
    grid(study, ["sysA"], ["u0", "u1"])
    # A 4 s clip, as ffprobe would have measured it.
    Stimulus.objects.update(duration_s=4.0)
    return study


def rater_at_first_clip(study):
    """A browser past consent and instructions, with the URL of its first clip."""
    client = Client()
    client.get("/study/plays/")
    client.post("/study/plays/", {"consent": "yes"})
    session = Session.objects.get()
    client.post(f"/study/s/{session.pk}/instructions/")
    return client, session, client.get(f"/study/s/{session.pk}/")["Location"]


def report(client, url, event):
    return client.post(f"{url}play/", {"event": event})


def item_of(url) -> SessionItem:
    return SessionItem.objects.get(token=re.search(r"/clip/([^/]+)/", url)[1])


def rewind_play(url, seconds):
    """Move the clip's last recorded play `seconds` into the past."""
    earlier = timezone.now() - timedelta(seconds=seconds)
    SessionItem.objects.filter(pk=item_of(url).pk).update(last_play_at=earlier)


def test_plays_beyond_the_study_limit_are_refused_with_a_clear_message(study):
    client, _, url = rater_at_first_clip(study)
    assert [report(client, url, "play").json()["plays"] for _ in range(2)] == [1, 2]
    third = report(client, url, "play")
    assert third.status_code == 409
    assert third.json()["error"] == (
        "You have played this clip 2 times, the most this study allows."
    )
    assert item_of(url).plays == 2


def test_practice_clips_have_no_play_limit(study):
    services.stimulus_add(study=study, path=None, system="p", utterance_id="p", role="practice")
    session = sessions.rater_enter(
        study=study, platform="link", external_id="r", rng=random.Random(0)
    )
    practice = session.items.select_related("stimulus").get(stimulus__role="practice")
    for _ in range(4):
        practice = responses.play_record(session=session, item=practice, event="play")
    assert practice.plays == 4


def test_answer_without_a_recorded_full_play_is_refused_whatever_the_form_claims(study):
    client, _, url = rater_at_first_clip(study)
    report(client, url, "play")
    page = client.post(url, {"realness": 4, "played_to_end": "on", "play_count": 1})
    assert page.status_code == 400
    assert b"play the clip to its end" in page.content
    assert not Response.objects.exists()


def test_ended_sooner_than_the_clip_lasts_is_not_believed(study):
    client, _, url = rater_at_first_clip(study)
    report(client, url, "play")
    rewind_play(url, 1)
    early = report(client, url, "ended")
    assert early.status_code == 400 and "lasts 4.0 s" in early.json()["error"]
    assert not item_of(url).played_to_end


def test_ended_without_a_play_is_not_believed(study):
    client, _, url = rater_at_first_clip(study)
    assert report(client, url, "ended").status_code == 400
    assert not item_of(url).played_to_end


def test_clip_played_through_is_answered_with_the_servers_play_count(study):
    client, session, url = rater_at_first_clip(study)
    report(client, url, "play")
    report(client, url, "play")
    rewind_play(url, 4)
    assert report(client, url, "ended").json() == {
        "plays": 2,
        "max_plays": 2,
        "played_to_end": True,
    }
    assert client.post(url, {"realness": 4, "play_count": 0}).status_code == 302
    stored = Response.objects.get(session=session)
    assert (stored.play_count, stored.played_to_end) == (2, True)


def test_study_that_does_not_require_a_full_play_takes_the_answer_and_records_it(study):
    study.require_played_to_end = False
    study.save()
    client, session, url = rater_at_first_clip(study)
    assert client.post(url, {"realness": 4}).status_code == 302
    stored = Response.objects.get(session=session)
    assert (stored.play_count, stored.played_to_end) == (0, False)


def test_another_browser_cannot_report_plays(study):
    _, _, url = rater_at_first_clip(study)
    assert report(Client(), url, "play").status_code == 404
    assert item_of(url).plays == 0


def test_unknown_player_event_is_refused(study):
    client, _, url = rater_at_first_clip(study)
    reply = report(client, url, "seeked")
    assert reply.status_code == 400 and "Unknown player event 'seeked'" in reply.json()["error"]
