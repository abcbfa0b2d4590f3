"""Evaluate jobs: staff only through the API, a corpus named on the server, and the staff pages
that start them and show their report."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpora(settings, tmp_path):
    settings.SYNCLAB_EVAL_CORPORA_DIR = tmp_path / "corpora"
    (tmp_path / "corpora" / "tiny").mkdir(parents=True)
    return tmp_path / "corpora"


@pytest.fixture
def staff():
    user = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def post(client, model="syncnet-demo", **params):
    data = {"kind": "evaluate", "model": model, "params": json.dumps(params)}
    return client.post("/api/jobs/", data)


def test_visitors_cannot_start_an_evaluation(client, corpora):
    response = post(client, corpus="tiny")
    assert response.status_code == 403 and "staff only" in response.json()["error"]
    assert not Job.objects.exists()


def test_staff_evaluation_stores_model_revision_and_normalised_params(staff, corpora):
    response = post(staff, corpus="tiny", limit=3)
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "evaluate" and job.model_id == "syncnet-demo"
    assert job.model_revision.startswith("bundled:")
    assert job.params == {
        "corpus": "tiny", "split": "test", "limit": 3, "seed": 0, "syncnet": "syncnet-demo"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        ("syncnet-demo", {"corpus": "elsewhere"}, "corpus 'elsewhere' is not on this server"),
        ("syncnet-demo", {"corpus": "../tiny"}, "'corpus' must name a corpus folder"),
        ("syncnet-demo", {"corpus": "tiny", "limit": 0}, "'limit' must be an integer"),
        ("syncnet-demo", {"corpus": "tiny", "colour": 1}, "unknown key 'colour'"),
        ("nope", {"corpus": "tiny"}, "'nope' is not a evaluate model"),
    ],
)
def test_bad_evaluation_requests_name_the_problem(staff, corpora, model, params, message):
    response = post(staff, model=model, **params)
    assert response.status_code == 400 and message in response.json()["error"]


def test_dashboard_starts_an_evaluation_and_lists_it(staff, corpora):
    page = staff.get("/admin/evaluations/")
    assert page.status_code == 200 and b"tiny" in page.content
    response = staff.post(
        "/admin/evaluations/", {"model": "syncnet-demo", "corpus": "tiny", "limit": "2"}
    )
    job = Job.objects.get(kind="evaluate")
    assert response.status_code == 302 and response.url == f"/admin/evaluations/{job.id}/"
    assert job.params["limit"] == 2
    assert str(job.id) in staff.get("/admin/evaluations/").content.decode()


def test_dashboard_form_errors_are_shown(staff, corpora):
    response = staff.post("/admin/evaluations/", {"model": "syncnet-demo", "corpus": "x"})
    assert response.status_code == 400 and b"corpus &#x27;x&#x27; is not on this server" in (
        response.content
    )


def test_dashboard_is_for_staff(client):
    response = client.get("/admin/evaluations/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_report_page_shows_tables_protocol_and_plots(staff, corpora):
    job = Job.objects.create(
        kind="evaluate",
        model_id="syncnet-demo",
        model_revision="bundled:abc",
        params={"corpus": "tiny", "split": "test", "limit": 1, "seed": 0},
        status=Job.Status.SUCCEEDED,
    )
    report = {
        "protocol": {"sync": {"judge": "syncnet-demo", "offset_window": 15}},
        "corpus": {"sha256": "f" * 64, "clips": 1},
        "models": [{"id": "syncnet-demo", "role": "judge", "revision": "bundled:abc"}],
        "rows": [
            {
                "model": "syncnet-demo",
                "condition": "real_vs_delayed_5",
                "metrics": {"lse_d_real": 1.0412, "lse_d_shifted": 1.07},
            },
        ],  # fmt: skip
        "reliability": {},
        "unavailable": {},
        "seconds": 3.0,
    }
    out = job.directory / "output"
    out.mkdir(parents=True)
    (out / "report.json").write_text(json.dumps(report))
    (out / "wer_vs_snr.png").write_bytes(b"png")
    job.outputs = [
        {"name": "report.json", "path": "output/report.json", "content_type": "application/json"},
        {"name": "wer_vs_snr.png", "path": "output/wer_vs_snr.png", "content_type": "image/png"},
    ]
    job.save()
    html = staff.get(f"/admin/evaluations/{job.id}/").content.decode()
    assert "<td>1.041</td>" in html and "lse_d_shifted" in html
    assert "&quot;offset_window&quot;: 15" in html
    assert f"/api/jobs/{job.id}/outputs/wer_vs_snr.png" in html
