"""Fixtures of the browser tests: a fresh Chromium page per test."""

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.chromium import launch_chromium


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser.new_page()
        browser.close()
