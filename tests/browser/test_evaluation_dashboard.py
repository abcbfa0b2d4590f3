"""An evaluate job started from the staff pages in Chromium, run by a real worker on a SynthGrid
corpus, its report (tables and protocol) read on its page."""

import os

import pytest
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from modelzoo.synthgrid.build import build

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain test set-up.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def corpora(tmp_path):
    build(tmp_path / "corpora" / "synthgrid-tiny", utterances=3, seed=0)
    return tmp_path / "corpora"


@pytest.fixture
def evaluation_site(worker_env, corpora, settings):
    """Django alone (the pages need no Gradio), in this process, on the worker's database."""
    settings.SYNCLAB_EVAL_CORPORA_DIR = corpora
    server = LiveServer("localhost")
    yield server
    server.stop()


def test_staff_start_an_evaluation_and_read_its_report(
    page, evaluation_site, start_worker, corpora, django_user_model
):
    django_user_model.objects.create_user("staff", password="pw-for-test-only", is_staff=True)
    start_worker(SYNCLAB_EVAL_CORPORA_DIR=str(corpora))
    # the first job a web process enqueues imports the task modules (torch among them)
    page.set_default_timeout(120_000)
    page.goto(evaluation_site.url + "/admin/evaluations/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "pw-for-test-only")
    page.locator("input[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Model evaluations")
    page.select_option("#evaluate-model", "syncnet-demo")
    page.select_option("#evaluate-corpus", "synthgrid-tiny")
    page.fill("#evaluate-limit", "1")
    page.locator("#evaluate-form input[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Evaluation of syncnet-demo")
    # the page reloads itself every 3 s until the job has finished
    expect(page.locator("#evaluation-status")).to_have_text("Status: succeeded", timeout=240_000)
    expect(page.locator("#table-judge tr")).to_have_count(2)
    expect(page.locator("#table-judge")).to_contain_text("lse_d_real")
    expect(page.locator("#evaluation-protocol")).to_contain_text('"judge": "syncnet-demo"')
    expect(page.locator("#evaluation-protocol")).to_contain_text('"offset_window": 15')
    expect(page.locator("#evaluation-corpus")).to_contain_text("over 1 clips")
    page.locator("text=All evaluations").click()
    expect(page.locator("#evaluation-runs")).to_contain_text("synthgrid-tiny (test, 1 clips)")
