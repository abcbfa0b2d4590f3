"""Rater pages and staff access: entry rules, trials, clips by token, and who may read what."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation import services
from annotation.models import Response, Session, SessionItem, Stimulus

from .factories import finished_job

SYSTEMS = ["secretreal", "secretsysA"]


@pytest.fixture
def study(db, tiny_clip):
    study = services.study_create(
        slug="pilot",
        title="Pilot",
        platform="prolific",
        stimuli_per_session=2,
        votes_per_stimulus=5,
        questions=[{"key": "realness", "prompt": "Real?"}],
    )
    first = None
    for system in SYSTEMS:
        for u in ["u0", "u1"]:
            # One ffmpeg remux per test; the other stimuli share its file (tests run on 2 cores).
            stimulus = services.stimulus_add(
                study=study,
                path=None if first else tiny_clip,
                system=system,
                utterance_id=u,
                reference_text=f"hidden words {u}",
            )
            first = first or stimulus
            stimulus.media.name = first.media.name
            stimulus.save()
    return study


def enter(client, pid="P1", session_id="S1"):
    url = f"/study/pilot/?PROLIFIC_PID={pid}&STUDY_ID=X&SESSION_ID={session_id}"
    page = client.get(url)
    assert page.status_code == 200, page.content
    return client.post("/study/pilot/", {"consent": "yes"})


def started(client, **kwargs):
    response = enter(client, **kwargs)
    session = Session.objects.get(pk=re.search(r"/s/([0-9a-f-]+)/", response["Location"])[1])
    client.post(f"/study/s/{session.pk}/instructions/")
    return session


def next_trial(client, session):
    location = client.get(f"/study/s/{session.pk}/")["Location"]
    return location


def watch(client, url):
    """Report the trial's clip as played to its end, its start moved back past the clip's length
    (the player would have waited that long)."""
    client.post(f"{url}play/", {"event": "play"})
    token = url.rstrip("/").rsplit("/", 1)[1]
    earlier = timezone.now() - timedelta(seconds=10)
    SessionItem.objects.filter(token=token).update(last_play_at=earlier)
    client.post(f"{url}play/", {"event": "ended"})


def submit(client, url, value=4):
    watch(client, url)
    return client.post(url, {"realness": value})


def test_prolific_entry_asks_consent_then_opens_a_session(study):
    client = Client()
    assert b"Consent" in client.get("/study/pilot/?PROLIFIC_PID=P1&SESSION_ID=S1").content
    response = client.post("/study/pilot/", {"consent": "yes"})
    assert response.status_code == 302
    session = Session.objects.get()
    assert (session.rater.external_id, session.platform_session_id) == ("P1", "S1")


def test_declining_consent_records_nothing(study):
    client = Client()
    client.get("/study/pilot/?PROLIFIC_PID=P1")
    assert b"did not consent" in client.post("/study/pilot/", {"consent": "no"}).content
    assert not Session.objects.exists()


def test_second_entry_with_the_same_participant_id_is_refused(study):
    started(Client())
    page = Client().get("/study/pilot/?PROLIFIC_PID=P1&SESSION_ID=S2")
    assert page.status_code == 409
    assert b"already taken part" in page.content
    assert Session.objects.count() == 1


def test_same_prolific_session_id_resumes_the_attempt(study):
    session = started(Client())
    page = Client().get("/study/pilot/?PROLIFIC_PID=P1&SESSION_ID=S1")
    assert page["Location"] == f"/study/s/{session.pk}/"


def test_prolific_link_without_a_participant_id_is_explained(study):
    page = Client().get("/study/pilot/")
    assert page.status_code == 400
    assert b"Prolific" in page.content


def test_mturk_preview_shows_the_task_without_starting_it(study):
    study.platform = "mturk"
    study.save()
    page = Client().get("/study/pilot/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H")
    assert b"preview" in page.content
    assert not Session.objects.exists()


def test_mturk_submit_address_outside_mturk_is_refused(study):
    study.platform = "mturk"
    study.save()
    url = "/study/pilot/?workerId=W&assignmentId=A&hitId=H&turkSubmitTo=https://evil.example"
    assert Client().get(url).status_code == 400


def test_a_full_session_ends_with_the_prolific_completion_redirect(study):
    client = Client()
    session = started(client)
    for _ in range(2):
        assert submit(client, next_trial(client, session)).status_code == 302
    done = client.get(next_trial(client, session))
    assert f"cc={study.completion_code}" in done.content.decode()
    assert Response.objects.filter(session=session).count() == 2


def test_posting_a_trial_twice_stores_one_response(study):
    client = Client()
    session = started(client)
    url = next_trial(client, session)
    submit(client, url, 4)
    submit(client, url, 1)
    assert list(Response.objects.values_list("value", flat=True)) == [4.0]


def test_trial_without_an_answer_is_refused_and_stores_nothing(study):
    client = Client()
    session = started(client)
    url = next_trial(client, session)
    watch(client, url)
    assert client.post(url, {}).status_code == 400
    assert not Response.objects.exists()


def test_a_clip_token_of_another_session_is_not_found(study):
    mine, theirs = Client(), Client()
    session = started(mine)
    other = started(theirs, pid="P2", session_id="S9")
    foreign_token = other.items.first().token
    assert submit(mine, f"/study/s/{session.pk}/clip/{foreign_token}/").status_code == 404
    assert mine.get(f"/study/m/{foreign_token}").status_code == 404
    assert not Response.objects.exists()


def test_another_browser_cannot_open_a_session(study):
    session = started(Client())
    assert Client().get(f"/study/s/{session.pk}/").status_code == 404


def test_trial_page_names_no_system_and_no_reference(study):
    client = Client()
    session = started(client)
    html = client.get(next_trial(client, session)).content.decode()
    assert "secret" not in html
    assert "hidden words" not in html


def test_clips_are_served_with_byte_ranges(study):
    client = Client()
    session = started(client)
    token = session.items.first().token
    whole = b"".join(client.get(f"/study/m/{token}").streaming_content)
    part = client.get(f"/study/m/{token}", HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == whole[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(whole)}"
    assert part["Content-Length"] == "10"


def test_clips_announce_byte_ranges_and_serve_the_last_bytes_asked_for(study):
    client = Client()
    token = started(client).items.first().token
    response = client.get(f"/study/m/{token}")
    assert response.status_code == 200 and response["Accept-Ranges"] == "bytes"
    whole = b"".join(response.streaming_content)
    tail = client.get(f"/study/m/{token}", HTTP_RANGE="bytes=-5")
    assert tail.status_code == 206 and tail["Accept-Ranges"] == "bytes"
    assert b"".join(tail.streaming_content) == whole[-5:]


def test_a_range_past_the_end_of_a_clip_is_refused_with_its_size(study):
    client = Client()
    token = started(client).items.first().token
    size = len(b"".join(client.get(f"/study/m/{token}").streaming_content))
    refused = client.get(f"/study/m/{token}", HTTP_RANGE=f"bytes={size}-")
    assert refused.status_code == 416
    assert refused["Content-Range"] == f"bytes */{size}"


def test_several_ranges_at_once_get_the_whole_clip(study):
    client = Client()
    token = started(client).items.first().token
    whole = b"".join(client.get(f"/study/m/{token}").streaming_content)
    both = client.get(f"/study/m/{token}", HTTP_RANGE="bytes=0-1,5-6")
    assert both.status_code == 200
    assert b"".join(both.streaming_content) == whole


def test_behind_the_proxy_a_clip_is_handed_to_nginx_ranges_and_all(study, settings):
    settings.SYNCLAB_ACCEL_REDIRECT = "/protected-media/"
    client = Client()
    item = started(client).items.select_related("stimulus").first()
    response = client.get(f"/study/m/{item.token}", HTTP_RANGE="bytes=10-19")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{item.stimulus.media.name}"
    assert response["Content-Type"] == "video/mp4"


@pytest.mark.parametrize(
    "url",
    [
        "/study/dashboard/",
        "/study/dashboard/pilot/",
        "/study/api/studies/pilot/export/long.csv",
        "/study/api/studies/pilot/results/",
        "/study/api/studies/",
    ],
)
def test_staff_pages_refuse_raters(study, url):
    client = Client()
    started(client)
    assert client.get(url).status_code in {302, 403}


def test_staff_read_the_dashboard_and_exports(study, admin_client):
    rater = Client()
    session = started(rater)
    submit(rater, next_trial(rater, session))
    page = admin_client.get("/study/dashboard/pilot/")
    assert page.status_code == 200 and b"Progress" in page.content
    results = admin_client.get("/study/api/studies/pilot/results/").json()
    assert results["progress"]["sessions"]["started"] == 1
    export = admin_client.get("/study/api/studies/pilot/export/long.csv")
    assert export.status_code == 200 and b"hidden words" in export.content


def test_staff_create_a_study_and_upload_a_stimulus_through_the_api(admin_client, tiny_clip):
    created = admin_client.post(
        "/study/api/studies/",
        {"slug": "viaapi", "title": "API", "kind": "transcribe", "platform": "link"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    with tiny_clip.open("rb") as fh:
        upload = admin_client.post(
            "/study/api/studies/viaapi/stimuli/",
            {
                "video": fh,
                "system": "real",
                "utterance_id": "u0",
                "reference_text": "hi there",
                "is_real": "1",
            },
        )
    assert upload.status_code == 201, upload.content
    assert upload.json()["duration_s"] == pytest.approx(1.0, abs=0.2)


def finish(client, session):
    client.post(f"/study/s/{session.pk}/instructions/")
    while "/clip/" in (url := next_trial(client, session)):
        submit(client, url)
    return client.get(url)


def test_mturk_session_ends_with_an_external_submit_form_to_mturk(study):
    study.platform = "mturk"
    study.save()
    client = Client()
    client.get(
        "/study/pilot/?workerId=W1&assignmentId=A1&hitId=H1"
        "&turkSubmitTo=https://workersandbox.mturk.com"
    )
    client.post("/study/pilot/", {"consent": "yes"})
    done = finish(client, Session.objects.get()).content.decode()
    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in done
    assert 'name="assignmentId" value="A1"' in done


def test_plain_link_rater_gets_a_code_and_cannot_enter_twice_from_that_browser(study):
    study.platform = "link"
    study.completion_code = ""
    study.save()
    client = Client()
    client.get("/study/pilot/")
    client.post("/study/pilot/", {"consent": "yes"})
    session = Session.objects.get()
    page = finish(client, session).content.decode()
    session.refresh_from_db()
    assert session.completion_code.startswith("S") and session.completion_code in page
    assert len(session.rater.external_id) >= 12
    assert client.get("/study/pilot/").status_code == 409


def test_staff_add_stimuli_from_finished_jobs_all_or_none(
    admin_client, tiny_clip, annotation_media_root
):
    services.study_create(slug="jobs", title="Jobs")
    good = finished_job(tiny_clip, "cals-demo")
    items = [
        {"job": str(good.pk), "utterance_id": "u0"},
        {"job": str(good.pk), "utterance_id": "u0"},
    ]
    refused = admin_client.post(
        "/study/api/studies/jobs/stimuli/from-jobs/",
        {"items": items},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "item 1" in refused.json()["error"]
    assert not Stimulus.objects.exists()
    assert not list((annotation_media_root / "annotation").rglob("*.mp4"))
    added = admin_client.post(
        "/study/api/studies/jobs/stimuli/from-jobs/",
        {"items": items[:1]},
        content_type="application/json",
    )
    assert added.status_code == 201
    assert added.json()["created"][0]["system"] == "cals-demo"


@pytest.mark.parametrize("job_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_staff_add_stimulus_from_a_missing_or_malformed_job_id_is_a_404(admin_client, job_id):
    services.study_create(slug="nojob", title="No job")
    response = admin_client.post("/study/api/studies/nojob/stimuli/", {"job": job_id})
    assert response.status_code == 404 and job_id in response.json()["error"]
    assert not Stimulus.objects.exists()
