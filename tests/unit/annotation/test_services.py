"""Services of crowd studies: assignment, one participation, idempotent and checked responses."""

import random
from collections import Counter

import pytest

from annotation import design, errors, responses, services, sessions
from annotation.models import Response, Session, SessionItem
from tests.unit.annotation.conftest import streams_and_tags

from .factories import finished_job, grid, watched

SYSTEMS = ["real", "sysA", "sysB"]
UTTERANCES = [f"u{i}" for i in range(6)]


def enter(study, pid, seed=0):
    return sessions.rater_enter(
        study=study, platform="prolific", external_id=pid, rng=random.Random(seed)
    )


def answer_all(session, value=3):
    for item in session.items.select_related("stimulus"):
        responses.response_record(
            session=session,
            item=watched(session, item),
            answers={"realness": value, "lipsync": value},
        )


def test_no_session_meets_an_utterance_under_two_systems(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    for i in range(12):
        session = enter(acr_study, f"p{i}", seed=i)
        utterances = [it.stimulus.utterance_id for it in session.items.select_related("stimulus")]
        assert len(utterances) == len(set(utterances))


def test_blocks_cover_every_stimulus_exactly_once(acr_study):
    stimuli = grid(acr_study, SYSTEMS, UTTERANCES)
    blocks = design.study_blocks(acr_study)
    flat = [pk for block in blocks for pk in block]
    assert sorted(flat) == sorted(s.pk for s in stimuli)


def test_blocks_balance_systems_within_a_session(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    acr_study.stimuli_per_session = 6
    acr_study.save()
    names = {s.pk: s.system for s in acr_study.stimuli.all()}
    for block in design.study_blocks(acr_study):
        assert set(Counter(names[pk] for pk in block).values()) == {2}


def test_least_filled_block_is_assigned_first(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    n_blocks = len(design.study_blocks(acr_study))
    blocks = [enter(acr_study, f"p{i}", seed=i).block for i in range(n_blocks)]
    assert sorted(blocks) == list(range(n_blocks))


def test_full_study_refuses_new_raters(acr_study):
    grid(acr_study, ["real"], ["u0"])
    enter(acr_study, "p0")
    enter(acr_study, "p1")
    with pytest.raises(errors.StudyFull):
        enter(acr_study, "p2")


def test_second_entry_of_a_rater_is_refused(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    first = enter(acr_study, "same")
    with pytest.raises(errors.AlreadyParticipated) as info:
        enter(acr_study, "same")
    assert info.value.session == first


def test_gold_trap_and_practice_items_join_the_session(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    acr_study.gold_per_session = acr_study.traps_per_session = 1
    acr_study.save()
    for role in ["gold", "trap", "practice"]:
        services.stimulus_add(
            study=acr_study,
            path=None,
            system=role,
            utterance_id=role,
            role=role,
            gold_answers={"realness": 5},
        )
    session = enter(acr_study, "p0")
    roles = Counter(session.items.values_list("stimulus__role", flat=True))
    assert roles["gold"] == roles["trap"] == roles["practice"] == 1
    assert session.items.get(position=0).stimulus.role == "practice"


def test_submitting_the_same_response_twice_stores_it_once(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    session = enter(acr_study, "p0")
    item = watched(session, session.items.first())
    answers = {"realness": 4, "lipsync": 2}
    created_first = responses.response_record(session=session, item=item, answers=answers)
    created_again = responses.response_record(
        session=session, item=item, answers={"realness": 1, "lipsync": 1}
    )
    assert (created_first, created_again) == (True, False)
    stored = Response.objects.filter(session=session, stimulus=item.stimulus)
    assert sorted(stored.values_list("value", flat=True)) == [2.0, 4.0]


def test_response_for_a_clip_outside_the_session_is_refused(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    session = enter(acr_study, "p0")
    other = enter(acr_study, "p1", seed=1)
    foreign = watched(other, other.items.first())
    with pytest.raises(errors.NotInSession):
        responses.response_record(
            session=session, item=foreign, answers={"realness": 3, "lipsync": 3}
        )
    assert not Response.objects.exists()


def test_rating_off_the_scale_is_refused(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    session = enter(acr_study, "p0")
    with pytest.raises(errors.InvalidAnswer):
        responses.response_record(
            session=session,
            item=watched(session, session.items.first()),
            answers={"realness": 9, "lipsync": 3},
        )


def test_session_completes_only_when_every_item_is_answered(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    session = enter(acr_study, "p0")
    with pytest.raises(errors.InvalidAnswer):
        sessions.session_complete(session=session)
    answer_all(session)
    done = sessions.session_complete(session=session)
    assert done.status == Session.Status.COMPLETED
    assert done.completion_code == acr_study.completion_code


def test_lipreading_stimulus_is_stored_without_audio_or_metadata(db, tiny_clip):
    study = services.study_create(slug="lr", title="LR", kind="transcribe")
    stimulus = services.stimulus_add(
        study=study, path=tiny_clip, system="sysA", utterance_id="u0", reference_text="hello"
    )
    probe = streams_and_tags(stimulus.media.path)
    assert "codec_type=video" in probe
    assert "audio" not in probe
    assert "system-secret" not in probe
    assert "sysA" not in stimulus.media.name


def test_a_file_that_is_no_video_is_refused_by_name_and_leaves_no_stimulus(acr_study, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("these are not frames")
    with pytest.raises(errors.AnnotationError, match="notes.mp4: not a usable video"):
        services.stimulus_add(study=acr_study, path=notes, system="sysA", utterance_id="u0")
    assert not acr_study.stimuli.exists()


def test_stored_stimulus_knows_its_length(acr_study, tiny_clip):
    stimulus = services.stimulus_add(
        study=acr_study, path=tiny_clip, system="sysA", utterance_id="u0"
    )
    assert stimulus.duration_s == pytest.approx(1.0, abs=0.1)


def test_stimulus_from_a_finished_generation_job_keeps_its_model_as_system(db, tiny_clip, tmp_path):
    from webapp.jobs.models import Job

    job = Job.objects.create(kind="generate", model_id="cals-demo", status="succeeded")
    out = job.directory / "output"
    out.mkdir(parents=True)
    (out / "result.mp4").write_bytes(tiny_clip.read_bytes())
    job.outputs = [{"name": "result.mp4", "path": "output/result.mp4", "content_type": "video/mp4"}]
    job.save()
    study = services.study_create(slug="acr2", title="ACR")
    stimulus = services.stimulus_add_from_job(study=study, job=job, utterance_id="u0")
    assert (stimulus.system, stimulus.source_job) == ("cals-demo", job.pk)
    assert stimulus.duration_s == pytest.approx(1.0, abs=0.2)


def test_unfinished_job_cannot_become_a_stimulus(db):
    from webapp.jobs.models import Job

    job = Job.objects.create(kind="generate", model_id="cals-demo")
    study = services.study_create(slug="acr3", title="ACR")
    with pytest.raises(errors.AnnotationError):
        services.stimulus_add_from_job(study=study, job=job, utterance_id="u0")


def test_session_items_have_distinct_opaque_tokens(acr_study):
    grid(acr_study, SYSTEMS, UTTERANCES)
    session = enter(acr_study, "p0")
    tokens = list(SessionItem.objects.filter(session=session).values_list("token", flat=True))
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) >= 20 and "sys" not in t for t in tokens)


def test_only_generation_jobs_become_stimuli(db, tiny_clip):
    job = finished_job(tiny_clip, "avrelscore-demo", kind="transcribe")
    study = services.study_create(slug="acr4", title="ACR")
    with pytest.raises(errors.AnnotationError, match="not a generation"):
        services.stimuli_add_from_jobs(study=study, items=[{"job": job.pk, "utterance_id": "u0"}])
