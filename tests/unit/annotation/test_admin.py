"""The admin: a clip uploaded there is cleaned like one sent to the API; responses are read-only."""

from annotation import services
from annotation.models import Stimulus
from tests.unit.annotation.conftest import streams_and_tags


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
            },
        )
    assert page.status_code == 302, page.content[-2000:]
    stimulus = Stimulus.objects.get()
    probe = streams_and_tags(stimulus.media.path)
    assert "audio" not in probe and "system-secret" not in probe
    assert stimulus.duration_s is not None


def test_responses_cannot_be_added_or_edited_in_the_admin(admin_client, db):
    assert admin_client.get("/admin/annotation/response/add/").status_code == 403
