"""The admin: a clip uploaded there is cleaned like one sent to the API; finished generation jobs
become stimuli, all or none; responses are read-only."""

from annotation import services
from annotation.models import Stimulus
from tests.unit.annotation.conftest import streams_and_tags

from .factories import finished_job


def test_clip_uploaded_in_the_admin_loses_audio_and_metadata(admin_client, tiny_clip):
    study = services.study_create(slug="lr", title="LR", kind="transcribe")
    with tiny_clip.open("rb") as fh:
        page = admin_client.post(
            "/admin/annotation/stimulus/add/",
            {
                "study": study.pk,
                "media": fh,
                "system": "sysA",
                "utterance_id": "u0",
                "reference_text": "hello",
                "role": "regular",
                "gold_answers": "{}",
                "section": "main",
            },
        )
    assert page.status_code == 302, page.content[-2000:]
    stimulus = Stimulus.objects.get()
    probe = streams_and_tags(stimulus.media.path)
    assert "audio" not in probe and "system-secret" not in probe
    assert stimulus.duration_s is not None


def test_responses_cannot_be_added_or_edited_in_the_admin(admin_client, db):
    assert admin_client.get("/admin/annotation/response/add/").status_code == 403


def jobs_page(admin_client, study):
    return admin_client.get(f"/admin/annotation/study/{study.pk}/from-jobs/")


def form_rows(page):
    """The job ids offered, in page order."""
    return [str(form["job"].value()) for form in page.context["formset"]]


def post_rows(admin_client, study, rows):
    """Post the admin form with `rows`: (job, ticked, system, utterance_id, reference_text)."""
    data = {"form-TOTAL_FORMS": len(rows), "form-INITIAL_FORMS": len(rows)}
    for i, (job, ticked, system, utterance, text) in enumerate(rows):
        data |= {
            f"form-{i}-job": job.pk,
            f"form-{i}-system": system,
            f"form-{i}-utterance_id": utterance,
            f"form-{i}-reference_text": text,
        }
        if ticked:
            data[f"form-{i}-add"] = "on"
    return admin_client.post(f"/admin/annotation/study/{study.pk}/from-jobs/", data, follow=True)


def test_study_page_links_to_adding_stimuli_from_jobs(admin_client, db):
    study = services.study_create(slug="gen", title="Gen")
    page = admin_client.get(f"/admin/annotation/study/{study.pk}/change/")
    assert f"/admin/annotation/study/{study.pk}/from-jobs/" in page.content.decode()


def test_admin_offers_only_succeeded_generation_jobs_not_yet_in_the_study(admin_client, tiny_clip):
    study = services.study_create(slug="gen", title="Gen")
    offered = finished_job(tiny_clip, "cals-demo", audio_name="utt7.wav")
    used = finished_job(tiny_clip, "alm-demo")
    services.stimulus_add_from_job(study=study, job=used, utterance_id="u1")
    finished_job(tiny_clip, "avrelscore-demo", kind="transcribe")
    finished_job(tiny_clip, "cals-demo", status="failed")
    page = jobs_page(admin_client, study)
    assert form_rows(page) == [str(offered.pk)]
    initial = page.context["formset"].forms[0].initial
    assert (initial["system"], initial["utterance_id"]) == ("cals-demo", "utt7")


def test_admin_adds_the_ticked_jobs_as_stimuli(admin_client, tiny_clip):
    study = services.study_create(slug="gen", title="Gen", kind="transcribe")
    first = finished_job(tiny_clip, "cals-demo")
    second = finished_job(tiny_clip, "alm-demo")
    page = post_rows(
        admin_client,
        study,
        [(first, True, "cals", "u3", "bin blue"), (second, False, "alm-demo", "u0", "")],
    )
    assert b"Added 1 stimuli" in page.content
    stimulus = Stimulus.objects.get()
    fields = (stimulus.system, stimulus.utterance_id, stimulus.reference_text, stimulus.source_job)
    assert fields == ("cals", "u3", "bin blue", first.pk)
    assert "audio" not in streams_and_tags(stimulus.media.path)


def test_admin_adds_all_ticked_jobs_or_none(admin_client, tiny_clip, annotation_media_root):
    study = services.study_create(slug="gen", title="Gen")
    first = finished_job(tiny_clip, "cals-demo")
    second = finished_job(tiny_clip, "cals-demo")
    page = post_rows(
        admin_client,
        study,
        [(first, True, "cals-demo", "u0", ""), (second, True, "cals-demo", "u0", "")],
    )
    assert b"Nothing was added: item 1" in page.content
    assert not Stimulus.objects.exists()
    assert not list((annotation_media_root / "annotation").rglob("*.mp4"))


def test_admin_page_of_jobs_needs_staff(client, db):
    study = services.study_create(slug="gen", title="Gen")
    assert client.get(f"/admin/annotation/study/{study.pk}/from-jobs/").status_code == 302


def test_admin_refuses_a_lipreading_trap_without_the_words_it_asks_for(admin_client, db):
    study = services.study_create(slug="lr", title="LR", kind="transcribe")
    page = admin_client.post(
        "/admin/annotation/stimulus/add/",
        {
            "study": study.pk,
            "system": "trap",
            "utterance_id": "t0",
            "role": "trap",
            "gold_answers": "{}",
        },
    )
    assert page.status_code == 200
    assert "on-screen instruction" in page.content.decode()
    assert not Stimulus.objects.exists()
