"""A crowd rater in Chromium: Prolific link, consent, practice, rating and lip-reading sessions,
completion redirect; a second entry with the same participant id is refused with a clear page; a
play past the study's limit is refused by the server and explained on the page."""

import os
import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from annotation import services
from annotation.models import Response, Session
from tests.browser.chromium import launch_chromium
from tests.conftest import make_clip

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain test set-up.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROLIFIC = "https://app.prolific.com/submissions/complete"


def build_study(tmp_path, slug, kind, questions=None):
    study = services.study_create(
        slug=slug,
        title=f"Study {slug}",
        kind=kind,
        platform="prolific",
        stimuli_per_session=2,
        votes_per_stimulus=3,
        questions=questions,
        completion_code=f"CODE{slug.upper()}",
    )
    clip = make_clip(tmp_path / f"{slug}.mp4", seconds=1, size="96x72", frequency=330)
    for system in ["real", "gen"]:
        for u, text in [("u0", "bin blue at f two now"), ("u1", "lay red by g nine again")]:
            services.stimulus_add(
                study=study,
                path=clip,
                system=system,
                utterance_id=u,
                reference_text=text,
                is_real=system == "real",
            )
    services.stimulus_add(
        study=study,
        path=clip,
        system="practice",
        utterance_id="p",
        role="practice",
        reference_text="practice",
    )
    return study


@pytest.fixture
def live_server(transactional_db):
    """A server for this test only: it stops before the test database is dropped."""
    server = LiveServer("localhost")
    yield server
    server.stop()


@contextmanager
def browser_page():
    """A Chromium page. Keep ORM calls outside this block: Django keys its connections by
    context, and one opened inside Playwright's is never closed, which blocks dropping the test
    database."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context()
        # No network here: Prolific's completion page is answered locally, its URL is what counts.
        context.route(f"{PROLIFIC}*", lambda route: route.fulfill(body="<p>Prolific</p>"))
        yield context.new_page()
        browser.close()


def play_and_answer(page, answer):
    """Play the clip to its end, check the answers were locked until then, answer."""
    answers = page.locator("fieldset.answers :is(input, textarea)").first
    expect(answers).to_be_disabled()
    page.locator("button.play").first.click()
    # a few seconds of clip; the margin is for a loaded 2-core runner, where one full-suite run
    # saw the clip still playing after 15 s (it passes in 10 s alone)
    expect(answers).to_be_enabled(timeout=60_000)
    answer(page)


def run_session(page, base, slug, pid, answer):
    page.goto(f"{base}/study/{slug}/?PROLIFIC_PID={pid}&STUDY_ID=S&SESSION_ID=X{pid}")
    page.locator("#agree").click()
    expect(page.locator("h2").first).to_have_text("Instructions")
    play_and_answer(page, answer)  # the practice clip
    page.locator("#start").click()
    for number in (1, 2):
        expect(page.locator(".progress")).to_have_text(f"Clip {number} of 2")
        play_and_answer(page, answer)
        page.locator("button.submit").click()
    expect(page.locator("#code")).to_have_text(f"CODE{slug.upper()}")
    page.locator("#return").click()
    page.wait_for_url(re.compile(re.escape(PROLIFIC) + r"\?cc=CODE" + slug.upper()), timeout=15_000)


def rate(page):
    page.locator(".question[data-key=realness] label").nth(3).click()
    page.locator(".question[data-key=lipsync] label").nth(1).click()


def transcribe(page):
    # Lip reading: the player is muted (and the served file has no audio track at all).
    assert page.locator("video").first.evaluate("v => v.muted && v.ended")
    page.locator("textarea[name=transcript]").fill("bin blue at two")


def test_rater_goes_from_prolific_link_through_rating_to_completion(live_server, tmp_path):
    questions = [{"key": "realness", "prompt": "How real?"}, {"key": "lipsync", "prompt": "Sync?"}]
    build_study(tmp_path, "acr", "acr", questions=questions)
    with browser_page() as page:
        run_session(page, live_server.url, "acr", "PID1", rate)
        page.goto(f"{live_server.url}/study/acr/?PROLIFIC_PID=PID1&STUDY_ID=S&SESSION_ID=again")
        expect(page.locator("#refused")).to_have_text("You have already taken part in this study.")
    session = Session.objects.get(rater__external_id="PID1")
    assert session.status == Session.Status.COMPLETED
    responses = Response.objects.filter(session=session)
    assert sorted(responses.values_list("value", flat=True)) == [2.0, 2.0, 4.0, 4.0]
    assert all(responses.values_list("played_to_end", flat=True))


def test_rater_completes_a_muted_lipreading_session(live_server, tmp_path):
    build_study(tmp_path, "lips", "transcribe")
    with browser_page() as page:
        run_session(page, live_server.url, "lips", "PID2", transcribe)
    transcripts = Response.objects.filter(session__rater__external_id="PID2")
    assert sorted(transcripts.values_list("transcript", flat=True)) == ["bin blue at two"] * 2


def test_a_play_past_the_limit_is_refused_by_the_server_and_explained(live_server, tmp_path):
    study = build_study(tmp_path, "once", "acr", questions=[{"key": "realness", "prompt": "?"}])
    study.max_plays = 1
    study.save()
    with browser_page() as page:
        page.goto(f"{live_server.url}/study/once/?PROLIFIC_PID=PID3&STUDY_ID=S&SESSION_ID=X")
        page.locator("#agree").click()
        page.locator("#start").click()
        play_and_answer(page, lambda page: None)
        expect(page.locator("button.play")).to_have_text("No more replays")
        # A second tab of the same clip starts from zero plays on the page; the server says no.
        second = page.context.new_page()
        second.goto(page.url)
        second.locator("button.play").click()
        expect(second.locator(".player-error")).to_have_text(
            "You have played this clip 1 time, the most this study allows."
        )
        expect(second.locator("button.play")).to_be_disabled()
        expect(second.locator("fieldset.answers input").first).to_be_disabled()


def test_a_play_counts_only_while_the_page_is_in_view_and_the_sound_is_on(live_server, tmp_path):
    build_study(tmp_path, "seen", "acr", questions=[{"key": "realness", "prompt": "?"}])
    with browser_page() as page:
        page.goto(f"{live_server.url}/study/seen/?PROLIFIC_PID=PID4&STUDY_ID=S&SESSION_ID=X")
        page.locator("#agree").click()
        page.locator("#start").click()
        answers = page.locator("fieldset.answers input").first
        problem = page.locator(".player-error")
        # A tab switched away mid-clip: the clip stops and the play no longer counts.
        page.locator("button.play").click()
        page.evaluate(
            """() => {
              Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
              document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )
        expect(problem).to_contain_text("out of view")
        assert page.locator("video").evaluate("v => v.paused && !v.ended")
        page.evaluate("() => { delete document.hidden; }")
        # Muting where the question needs sound does the same.
        page.locator("button.play").click()
        page.locator("video").evaluate("v => { v.muted = true; }")
        expect(problem).to_contain_text("sound was turned off")
        expect(answers).to_be_disabled()
        # A script that ends the clip itself is not believed: the server times the play.
        page.locator("video").evaluate("v => v.dispatchEvent(new Event('ended'))")
        expect(problem).to_contain_text(re.compile("has not been played|play it to the end"))
        expect(answers).to_be_disabled()
        page.locator("video").evaluate("v => { v.muted = false; }")
        page.locator("button.play").click()
        expect(answers).to_be_enabled(timeout=15_000)
