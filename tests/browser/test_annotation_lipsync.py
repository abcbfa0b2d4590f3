"""The lip-sync paper study in Chromium, end to end: consent with the study's facts, the display
and audio qualification, a training clip with feedback, P.910 Template B beside the real clip with
sound, the audio trap, a muted lip-reading trial whose page says so, completion. axe-core (vendored)
finds no serious or critical violation on any rater page. A rater who fails the audio check is
screened out with the platform's code."""

import os
import re
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from annotation import services, study_templates
from annotation.models import Response, Session, SessionItem
from tests.browser.test_annotation_study import PROLIFIC, browser_page
from tests.conftest import make_clip

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "static/annotation/vendor/axe-core/axe.min.js"
SENTENCES = {"u0": "bin blue at f two now", "u1": "lay red by g nine again"}


@pytest.fixture
def live_server(transactional_db):
    server = LiveServer("localhost")
    yield server
    server.stop()


def generation_job(tmp_path, utterance, settings):
    """A finished generation job: its input video is the real recording, its output the fake."""
    from webapp.jobs.models import Job

    job = Job.objects.create(kind="generate", model_id="wav2lip", status="succeeded")
    (job.directory / "input").mkdir(parents=True)
    (job.directory / "output").mkdir(parents=True)
    make_clip(job.directory / "input/video.mp4", seconds=1, size="96x72", frequency=330)
    make_clip(job.directory / "output/out.mp4", seconds=1, size="96x72", frequency=440)
    job.inputs = {"video": {"path": "input/video.mp4", "name": f"{utterance}.mp4"}}
    job.outputs = [{"name": "out.mp4", "path": "output/out.mp4", "content_type": "video/mp4"}]
    job.save()
    return {"job": job, "utterance_id": utterance, "reference_text": SENTENCES[utterance]}


@pytest.fixture
def study(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    items = [generation_job(tmp_path, u, settings) for u in SENTENCES]
    return study_templates.lipsync_study_create(
        slug="lipsync",
        title="Lip-sync study",
        items=items,
        completion_code="DONE1",
        screenout_code="SCREEN1",
        pay_text="£2.50",
        contact="Dr Test, test@example.org",
        # Chromium's headless screen is 1280 x 720 here; the study asks no more.
        qualification={"display": {"min_width": 1024, "min_height": 600}, "audio": {}},
    )


@pytest.fixture
def checked_study(db):
    """The qualification and consent of the lip-sync study, without its clips (no ffmpeg)."""
    study = services.study_create(
        slug="lipsync",
        title="Lip-sync study",
        platform="prolific",
        questions=study_templates.lipsync_questions("B"),
        duration_minutes=15,
        screenout_code="SCREEN1",
        pay_text="£2.50",
        contact="Dr Test, test@example.org",
        qualification={"display": {"min_width": 1024, "min_height": 600}, "audio": {}},
    )
    for section in ["rating", "lipreading"]:
        services.stimulus_add(
            study=study, path=None, system="m1", utterance_id="u0", section=section,
            reference_text="bin blue",
        )  # fmt: skip
    return study


def assert_accessible(page, name):
    """axe-core on the page as it stands: no serious or critical violation."""
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join())}))"""
    )
    bad = [v for v in violations if v["impact"] in {"serious", "critical"}]
    assert not bad, f"{name}: {bad}"


def db_read(read):
    """An ORM read from inside the browser block, its connection closed at once (one left open
    in Playwright's context would block dropping the test database)."""
    try:
        return read()
    finally:
        connections.close_all()


def current_item(page):
    """What the rater would hear or know: the clip's role and section (the page names neither)."""
    token = page.url.rstrip("/").rsplit("/", 1)[1]
    return db_read(lambda: SessionItem.objects.select_related("stimulus").get(token=token))


def spoken_number(pid):
    """The number the audio check speaks (the test cannot listen)."""
    return db_read(lambda: Session.objects.get(rater__external_id=pid).qualification["number"])


def play_to_end(page):
    answers = page.locator("fieldset.answers :is(input, textarea)").first
    expect(answers).to_be_disabled()
    page.locator("button.play").click()
    expect(answers).to_be_enabled(timeout=15_000)
    expect(page.locator(".announce")).to_contain_text("you can answer now")


def rate_all(page, value):
    for question in page.locator("fieldset.question[data-kind=scale]").all():
        question.locator(f"input[value='{value}']").check()


def enter(page, base, pid):
    page.goto(f"{base}/study/lipsync/?PROLIFIC_PID={pid}&STUDY_ID=S&SESSION_ID=X{pid}")
    expect(page.locator("#fact-pay")).to_have_text("£2.50")
    expect(page.locator("#fact-duration")).to_have_text("About 15 minutes")
    expect(page.locator("#fact-contact")).to_contain_text("test@example.org")
    expect(page.locator("#fact-withdrawal")).to_contain_text("stop at any time")
    assert_accessible(page, "consent")
    page.locator("#agree").click()
    expect(page.locator("h2").first).to_contain_text("two quick checks")
    expect(page.locator("#display-status")).to_contain_text("Measured", timeout=10_000)
    # The spoken number is a real WAV made by espeak-ng.
    audio = page.request.get(base + page.locator("#number-audio").get_attribute("src"))
    assert audio.headers["content-type"] == "audio/wav" and audio.body()[:4] == b"RIFF"
    assert_accessible(page, "qualification")


def test_rater_runs_the_lipsync_study_end_to_end(live_server, study):
    with browser_page() as page:
        enter(page, live_server.url, "PID1")
        page.locator("#heard-number").fill(str(spoken_number("PID1")))
        page.locator("#qualify").click()

        expect(page.locator("h2").first).to_have_text("Instructions")
        expect(page.locator(".instructions-part")).to_have_count(2)
        expect(page.locator(".instructions-part").nth(1)).to_contain_text("without sound")
        assert_accessible(page, "instructions")
        page.locator("#start").click()

        # Training: the real clip beside itself; a low answer earns feedback.
        expect(page.locator("#training-note")).to_be_visible()
        expect(page.locator("#pair-note")).to_contain_text("Right: a real recording")
        assert_accessible(page, "training trial")
        play_to_end(page)
        rate_all(page, 2)
        page.locator("button.submit").click()
        expect(page.locator("#feedback tr.off").first).to_contain_text("Not what we expected")
        expect(page.locator("#feedback-note")).to_contain_text("same real recording")
        assert_accessible(page, "training feedback")
        page.locator("#continue").click()

        seen = []
        while "/clip/" in page.url:
            item = current_item(page)
            seen.append(
                item.stimulus.role if item.stimulus.role != "regular" else item.stimulus.section
            )
            video = page.locator("video")
            assert_accessible(page, f"trial {seen[-1]}")
            if item.stimulus.section == "lipreading":
                expect(page.locator("#muted-note")).to_contain_text("no sound")
                assert video.evaluate("v => v.muted")
                play_to_end(page)
                page.get_by_label("Type the words the person says.").fill("bin blue at two")
            else:
                assert not video.evaluate("v => v.muted")
                play_to_end(page)
                # The trap's sound asks for 1 on every statement; a regular clip gets a 4.
                rate_all(page, 1 if item.stimulus.role == "trap" else 4)
                page.get_by_label("Lip sync and mouth movement").check()
            page.locator("button.submit").click()
            page.wait_for_url(re.compile(r"/(clip/[^/]+|done)/$"))
        assert sorted(seen) == ["lipreading", "rating", "trap"]
        expect(page.locator("#code")).to_have_text("DONE1")
        assert_accessible(page, "done")
        page.locator("#return").click()
        page.wait_for_url(re.compile(re.escape(PROLIFIC) + r"\?cc=DONE1"), timeout=15_000)

    session = Session.objects.get(rater__external_id="PID1")
    assert (session.status, session.qc_verdict) == ("completed", "accept"), session.qc_reasons
    transcript = Response.objects.get(session=session, question__key="transcript")
    assert (
        transcript.stimulus.section == "lipreading" and transcript.transcript == "bin blue at two"
    )
    tokens = Response.objects.filter(session=session, question__key="problems")
    assert [r.tokens for r in tokens.exclude(stimulus__role="training")] == [
        ["Lip sync and mouth movement"]
    ] * 2


def test_rater_who_fails_the_audio_check_is_screened_out_with_the_platform_code(live_server, study):
    with browser_page() as page:
        enter(page, live_server.url, "PID2")
        page.locator("#heard-number").fill(str(spoken_number("PID2") + 1))
        page.locator("#qualify").click()
        expect(page.locator("#screened-out")).to_contain_text("not the number spoken")
        expect(page.locator("#code")).to_have_text("SCREEN1")
        assert_accessible(page, "screened out")
        page.locator("#return").click()
        page.wait_for_url(re.compile(re.escape(PROLIFIC) + r"\?cc=SCREEN1"), timeout=15_000)
    session = Session.objects.get(rater__external_id="PID2")
    assert session.status == "screened_out" and session.qc_verdict == "exclude"
