"""The staff dashboard in Chromium: login, MOS chart drawn by the vendored Chart.js, tables."""

import os

import pytest
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from annotation import services
from tests.browser.chromium import launch_chromium
from tests.unit.annotation.factories import grid, load_votes

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain test set-up.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db):
    server = LiveServer("localhost")
    yield server
    server.stop()


def test_staff_see_mos_chart_and_tables_after_login(server, django_user_model):
    django_user_model.objects.create_user("staff", password="pw-for-test-only", is_staff=True)
    study = services.study_create(
        slug="dash",
        title="Dash study",
        questions=[{"key": "realness", "prompt": "Real?"}, {"key": "lipsync", "prompt": "Sync?"}],
    )
    grid(study, ["real", "gen"], ["u0", "u1", "u2"])
    rows = [
        (f"r{r}", s, u, q, 3 + (s == "real") + (r + i) % 2)
        for r in range(4)
        for s in ["real", "gen"]
        for i, u in enumerate(["u0", "u1", "u2"])
        for q in ["realness", "lipsync"]
    ]
    load_votes(study, rows)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(f"{server.url}/study/dashboard/dash/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "pw-for-test-only")
        page.locator("input[type=submit]").click()
        expect(page.locator("h1")).to_have_text("Dash study")
        expect(page.locator("#mos-table tr")).to_have_count(5)
        page.wait_for_function("() => window.Chart && Chart.getChart('mos-chart')")
        bars = page.evaluate("() => Chart.getChart('mos-chart').data.datasets.map(d => d.label)")
        assert sorted(bars) == ["gen", "real"]
        expect(page.locator("#agreement")).to_contain_text("realness")
        expect(page.locator("#raters tr")).to_have_count(5)
        browser.close()


def test_dashboard_fits_a_375_px_phone_and_offers_the_paper_table(server, django_user_model):
    django_user_model.objects.create_user("staff", password="pw-for-test-only", is_staff=True)
    study = services.study_create(
        slug="phone",
        title="A study with a rather long title to wrap on a phone",
        questions=[{"key": "realness", "prompt": "Real?"}, {"key": "lipsync", "prompt": "Sync?"}],
    )
    grid(study, ["real", "generated-system-with-a-long-name"], ["u0", "u1", "u2"])
    rows = [
        (f"rater-with-a-long-platform-id-{r}", s, u, q, 2 + (s == "real") * 2 + (r + i) % 2)
        for r in range(4)
        for s in ["real", "generated-system-with-a-long-name"]
        for i, u in enumerate(["u0", "u1", "u2"])
        for q in ["realness", "lipsync"]
    ]
    load_votes(study, rows)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 375, "height": 812})
        page.goto(f"{server.url}/study/dashboard/phone/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "pw-for-test-only")
        page.locator("input[type=submit]").click()
        expect(page.locator("#mos-table")).to_be_visible()
        page.wait_for_function("() => window.Chart && Chart.getChart('mos-chart')")
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 375, widths
        expect(page.locator("#paper-table")).to_contain_text("| real (reference) |")
        expect(page.locator("#conventions")).to_contain_text("t(0.975, n - 1)")
        md = page.request.get(f"{server.url}/study/api/studies/phone/export/paper.md")
        assert md.ok and "generated-system-with-a-long-name" in md.text()
        browser.close()
