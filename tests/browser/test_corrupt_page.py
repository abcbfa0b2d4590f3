"""The demo page in Chromium: upload a clip on the Corrupt tab and get a playable result back."""

import pytest
from playwright.sync_api import expect

from tests.conftest import make_clip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _wait_uploaded(page, name: str) -> None:
    """Gradio lists an uploaded file with a link to its stored copy once the upload is done."""
    link = page.locator(f'#corrupt-media a[href$="/{name}"]')
    expect(link).to_have_count(1, timeout=30_000)


def test_corrupt_tab_returns_a_playable_video(page, site, start_worker, tmp_path):
    start_worker()
    clip = make_clip(tmp_path / "visitor.mp4", seconds=2)
    page.goto(site.url + "/demo/")
    page.get_by_role("tab", name="Corrupt").click()
    page.locator("#corrupt-media input[type=file]").set_input_files(str(clip))
    _wait_uploaded(page, "visitor.mp4")
    page.locator("#corrupt-run").click()
    expect(page.locator("#corrupt-status")).to_contain_text("Done", timeout=120_000)
    video = page.locator("#corrupt-video video")
    expect(video).to_have_count(1, timeout=30_000)
    video.evaluate(
        "v => new Promise(r => v.readyState >= 2 ? r() : v.addEventListener('loadeddata', r))"
    )
    assert video.evaluate("v => v.duration") == pytest.approx(2.0, abs=0.3)
    assert video.evaluate("v => v.videoWidth") == 160


def test_bad_upload_on_the_page_shows_the_problem(page, site, tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video\n" * 20)
    page.goto(site.url + "/demo/")
    page.get_by_role("tab", name="Corrupt").click()
    page.locator("#corrupt-media input[type=file]").set_input_files(str(bogus))
    _wait_uploaded(page, "notes.mp4")
    page.locator("#corrupt-run").click()
    expect(page.get_by_text("not a readable audio, video or image file").first).to_be_visible(
        timeout=30_000
    )
