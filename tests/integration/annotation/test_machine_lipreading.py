"""Machine lip-reading of a study's clips from generation jobs: the dashboard's button, a real
Celery worker running the zoo's lip reader on PostgreSQL rows and stored clips, and the table."""

import time

import pytest

from annotation import services
from annotation.models import Stimulus
from tests.unit.annotation.factories import finished_job

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for_readings(study, seconds=300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readings = list(
            Stimulus.objects.filter(study=study).values_list("machine_reading", flat=True)
        )
        if all(readings):
            return readings
        time.sleep(1)
    raise AssertionError(f"the worker did not read every clip in {seconds} s: {readings}")


def test_dashboard_button_has_a_worker_read_each_generated_clip_with_the_lip_reader(
    admin_client, start_worker
):
    from modelzoo.metrics import lipreading
    from modelzoo.zoo.loading import load_for_inference
    from webapp.demo.examples import example_speech_clip

    clip, sentence = example_speech_clip()  # a face saying a GRID sentence
    study = services.study_create(slug="lips", title="Lips", kind="transcribe")
    jobs = [finished_job(clip, model) for model in ("alm-demo", "cals-demo")]
    items = [{"job": job, "utterance_id": "u0", "reference_text": sentence} for job in jobs]
    services.stimuli_add_from_jobs(study=study, items=items)
    start_worker()

    assert admin_client.post("/study/dashboard/lips/lipread/").status_code == 302
    readings = wait_for_readings(study)

    reader = lipreading.lip_reader_id()
    expected = lipreading.read_lips_file(
        load_for_inference(reader), Stimulus.objects.filter(study=study).first().media.path
    )
    assert [r["reader"] for r in readings] == [reader, reader]
    assert [r["text"] for r in readings] == [expected, expected]  # the same clip twice
    page = admin_client.get("/study/dashboard/lips/").content.decode()
    assert 'id="human-machine"' in page and "alm-demo" in page
