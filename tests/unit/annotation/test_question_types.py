"""Question types and study parts: problem tokens, A/B preference, per-section sound and Latin
squares, training feedback, tool-made traps, interrupted plays, the qualification checks, the
consent facts and the accessible trial form."""

import re

import pytest
from django.test import Client

from annotation import analysis, design, errors, questions, responses, selectors, services, sessions
from annotation.models import Response, Session, SessionItem, Stimulus
from tests.unit.annotation.conftest import streams_and_tags

from .factories import grid, watched


@pytest.fixture
def parts_study(db):
    """A rating part with sound (Template B statements, tokens) and a muted lip-reading part."""
    return services.study_create(
        slug="parts",
        title="Parts",
        stimuli_per_session=10,
        questions=[
            *questions.template_b("rating"),
            questions.problem_tokens("rating"),
            questions.lip_reading("lipreading"),
        ],
    )


def test_each_section_gets_its_own_latin_square_and_every_session_covers_both(parts_study):
    grid(parts_study, ["m1", "m2"], ["u0", "u1"], section="rating")
    grid(parts_study, ["m1", "real"], ["u2", "u3"], section="lipreading", reference_text="a b")
    blocks = design.study_blocks(parts_study)
    assert len(blocks) == 2
    sections = {s.pk: (s.section, s.utterance_id) for s in parts_study.stimuli.all()}
    for block in blocks:
        seen = [sections[pk] for pk in block]
        assert {section for section, _ in seen} == {"rating", "lipreading"}
        assert len(seen) == len(set(seen)) == 4  # no utterance twice in a section
    assert sorted(pk for b in blocks for pk in b) == sorted(sections)


def test_session_plays_the_sound_part_first_then_the_muted_part(parts_study):
    grid(parts_study, ["m1", "m2"], ["u0", "u1"], section="rating")
    grid(parts_study, ["m1", "real"], ["u2", "u3"], section="lipreading", reference_text="a b")
    session = sessions.rater_enter(study=parts_study, platform="link", external_id="r1")
    order = [i.stimulus.section for i in session.items.select_related("stimulus")]
    assert order == ["rating", "rating", "lipreading", "lipreading"]


def test_a_clip_is_asked_only_its_sections_questions_and_tokens_are_stored(parts_study):
    (rated,) = grid(parts_study, ["m1"], ["u0"], section="rating")
    session = sessions.rater_enter(study=parts_study, platform="link", external_id="r1")
    session.mark_started()
    item = watched(session, session.items.get())
    answers = {key: 4 for key, _ in questions.TEMPLATE_B}
    answers["problems"] = ["Lighting", "Eyes and blinking"]
    responses.response_record(session=session, item=item, answers=answers)
    stored = Response.objects.filter(session=session)
    assert stored.count() == 4  # three statements and the tokens, no transcript
    assert stored.get(question__key="problems").tokens == ["Lighting", "Eyes and blinking"]
    assert not selectors.session_pending_items(session).exists()
    with pytest.raises(errors.InvalidAnswer, match="not one of its tokens"):
        other = sessions.rater_enter(study=parts_study, platform="link", external_id="r2")
        other.mark_started()
        item = watched(other, other.items.get())
        responses.response_record(
            session=other, item=item, answers={**answers, "problems": ["Bad hair"]}
        )
    assert rated.section == "rating"


def test_token_shares_per_system(parts_study):
    grid(parts_study, ["m1"], ["u0", "u1"], section="rating")
    for rater, ticks in [("a", ["Lighting"]), ("b", ["Lighting", "Eyes and blinking"])]:
        session = sessions.rater_enter(study=parts_study, platform="link", external_id=rater)
        session.mark_started()
        for item in session.items.all():
            answers = {key: 3 for key, _ in questions.TEMPLATE_B} | {"problems": ticks}
            responses.response_record(session=session, item=watched(session, item), answers=answers)
        sessions.session_complete(session=session)
    rows = {r["token"]: r for r in analysis.token_table(parts_study)}
    assert (rows["Lighting"]["ticked"], rows["Lighting"]["answers"]) == (4, 4)
    assert rows["Eyes and blinking"]["share"] == 0.5
    assert rows["No problem"]["ticked"] == 0


def test_muted_part_stores_clips_without_audio_and_the_sound_part_keeps_it(parts_study, tiny_clip):
    muted = services.stimulus_add(
        study=parts_study,
        path=tiny_clip,
        system="m1",
        utterance_id="u9",
        reference_text="a b",
        section="lipreading",
    )
    loud = services.stimulus_add(
        study=parts_study, path=tiny_clip, system="m1", utterance_id="u9", section="rating"
    )
    assert "audio" not in streams_and_tags(muted.media.path)
    assert "audio" in streams_and_tags(loud.media.path)


def test_a_stimulus_in_a_section_without_questions_is_refused(parts_study):
    with pytest.raises(errors.AnnotationError, match="no question is in section 'ratings'"):
        services.stimulus_add(
            study=parts_study, path=None, system="m1", utterance_id="u0", section="ratings"
        )


def test_side_by_side_clip_is_twice_as_wide_with_the_left_sound(parts_study, tiny_clip):
    pair = services.stimulus_add(
        study=parts_study,
        path=tiny_clip,
        beside=tiny_clip,
        beside_system="real",
        system="m1",
        utterance_id="u0",
        section="rating",
    )
    probe = streams_and_tags(pair.media.path)
    assert "audio" in probe and pair.beside_system == "real"
    import subprocess

    width = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width",
         "-of", "csv=p=0", pair.media.path],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert int(width) == 2 * 480  # 64x48 scaled to 360 high, twice


def test_preference_votes_become_shares_with_a_binomial_test(db):
    study = services.study_create(
        slug="ab", title="AB", questions=[questions.preference()], stimuli_per_session=5
    )
    for u in ["u0", "u1", "u2"]:
        Stimulus.objects.create(study=study, system="m1", beside_system="m2", utterance_id=u)
    for rater, picks in [("a", [0, 0, 1]), ("b", [0, 0, 0])]:
        session = sessions.rater_enter(study=study, platform="link", external_id=rater)
        session.mark_started()
        for item, pick in zip(session.items.order_by("stimulus__utterance_id"), picks, strict=True):
            responses.response_record(
                session=session, item=watched(session, item), answers={"preference": str(pick)}
            )
        sessions.session_complete(session=session)
    (row,) = analysis.preference_table(study)
    assert (row["a"], row["b"], row["for_a"], row["for_b"]) == ("m1", "m2", 5, 1)
    assert row["p"] == pytest.approx(0.21875)  # two-sided exact binomial, 5 of 6


def test_tool_made_trap_speaks_its_answer_and_qc_checks_only_the_ratings(parts_study, tiny_clip):
    trap = services.trap_add(study=parts_study, video=tiny_clip, answer=1, section="rating")
    assert trap.role == "trap" and set(trap.gold_answers) == {k for k, _ in questions.TEMPLATE_B}
    assert "please answer 1, Strongly disagree" in trap.reference_text
    assert "audio" in streams_and_tags(trap.media.path)
    grid(parts_study, ["m1"], ["u0", "u1", "u2"], section="rating")
    parts_study.traps_per_session = 1
    parts_study.save()
    session = sessions.rater_enter(study=parts_study, platform="link", external_id="r1")
    session.mark_started()
    for item in session.items.select_related("stimulus"):
        value = 1 if item.stimulus.role == "trap" else 2 + item.position % 3
        answers = {k: value for k, _ in questions.TEMPLATE_B} | {"problems": []}
        responses.response_record(session=session, item=watched(session, item), answers=answers)
    sessions.session_complete(session=session)
    session.refresh_from_db()
    assert not [r for r in session.qc_reasons if r["check"] == "trap"]


def test_interrupted_play_does_not_count_as_played_to_the_end(parts_study):
    grid(parts_study, ["m1"], ["u0"], section="rating")
    Stimulus.objects.update(duration_s=1.0)
    session = sessions.rater_enter(study=parts_study, platform="link", external_id="r1")
    item = session.items.select_related("stimulus").get()
    responses.play_record(session=session, item=item, event="play")
    item = responses.play_record(session=session, item=item, event="interrupted")
    with pytest.raises(errors.InvalidAnswer, match="has not been played"):
        responses.play_record(session=session, item=item, event="ended")
    item = watched(session, SessionItem.objects.select_related("stimulus").get(pk=item.pk))
    assert item.played_to_end and item.plays == 2


# Rater pages: training feedback, qualification, consent facts, accessible forms.


@pytest.fixture
def page_study(db, tiny_clip):
    study = services.study_create(
        slug="pages",
        title="Pages",
        platform="prolific",
        questions=[questions.lipsync_mos("rating"), questions.lip_reading("lipreading")],
        duration_minutes=12,
        pay_text="£3",
        contact="lab@example.org",
        screenout_code="OUT7",
        qualification={"display": {}, "audio": {}},
        require_played_to_end=False,
    )
    services.stimulus_add(
        study=study, path=None, system="real", utterance_id="t", role="training",
        gold_answers={"lipsync": 5}, feedback="The lips match exactly.", section="rating",
    )  # fmt: skip
    grid(study, ["m1"], ["u0"], section="rating")
    grid(study, ["m1"], ["u1"], section="lipreading", reference_text="one two")
    return study


def entered(client, pid="P1"):
    page = client.get(f"/study/pages/?PROLIFIC_PID={pid}&SESSION_ID=S{pid}")
    assert b"About 12 minutes" in page.content and b"\xc2\xa33" in page.content
    assert b"lab@example.org" in page.content and b"stop at any time" in page.content
    response = client.post("/study/pages/", {"consent": "yes"})
    return Session.objects.get(pk=re.search(r"/s/([0-9a-f-]+)/", response["Location"])[1])


PASSING_DISPLAY = {"screen_width": 1920, "screen_height": 1080, "refresh_hz": 60}


def test_qualification_comes_before_the_instructions_and_a_pass_opens_them(page_study):
    client = Client()
    session = entered(client)
    home = f"/study/s/{session.pk}/"
    assert client.get(home)["Location"].endswith("/qualification/")
    assert client.get(f"{home}instructions/")["Location"] == home
    audio = client.get(f"{home}qualification/number.wav")
    assert audio["Content-Type"] == "audio/wav" and audio.content[:4] == b"RIFF"
    session.refresh_from_db()
    number = session.qualification["number"]
    client.post(f"{home}qualification/", {**PASSING_DISPLAY, "heard_number": f" {number} "})
    assert client.get(home)["Location"].endswith("/instructions/")


@pytest.mark.parametrize(
    "answers, reason",
    [
        ({**PASSING_DISPLAY, "screen_width": 800, "screen_height": 600}, "800 x 600"),
        ({**PASSING_DISPLAY, "refresh_hz": 20}, "refreshes 20 times"),
        ({**PASSING_DISPLAY, "heard_number": "0"}, "not the number spoken"),
    ],
)
def test_failing_a_check_screens_out_with_the_platform_code(page_study, answers, reason):
    client = Client()
    session = entered(client)
    client.get(f"/study/s/{session.pk}/qualification/")
    session.refresh_from_db()
    answers = {"heard_number": session.qualification["number"], **answers}
    client.post(f"/study/s/{session.pk}/qualification/", answers)
    session.refresh_from_db()
    assert (session.status, session.completion_code) == ("screened_out", "OUT7")
    page = client.get(f"/study/s/{session.pk}/done/")
    assert reason in page.content.decode() and "cc=OUT7" in page.content.decode()
    # The block is free again and the rater cannot come back.
    assert selectors.block_fill(page_study) == {}
    assert b"already taken part" in Client().get("/study/pages/?PROLIFIC_PID=P1").content


def test_training_clip_answer_gets_feedback_then_the_trials(page_study):
    client = Client()
    session = entered(client)
    client.get(f"/study/s/{session.pk}/qualification/")
    session.refresh_from_db()
    number = session.qualification["number"]
    client.post(
        f"/study/s/{session.pk}/qualification/", {**PASSING_DISPLAY, "heard_number": number}
    )
    instructions = client.get(f"/study/s/{session.pk}/instructions/").content.decode()
    assert "without sound" in instructions and "The first clip is for training" in instructions
    client.post(f"/study/s/{session.pk}/instructions/")
    first = client.get(f"/study/s/{session.pk}/")["Location"]
    assert "A training clip" in client.get(first).content.decode()
    feedback = client.post(first, {"lipsync": 2}).content.decode()
    assert "Not what we expected" in feedback and "5 (Excellent), give or take 1" in feedback
    assert "The lips match exactly." in feedback
    nxt = client.get(f"/study/s/{session.pk}/")["Location"]
    assert nxt != first


def test_trial_form_names_every_question_for_screen_readers(page_study):
    client = Client()
    session = entered(client)
    client.get(f"/study/s/{session.pk}/qualification/")
    session.refresh_from_db()
    number = session.qualification["number"]
    client.post(
        f"/study/s/{session.pk}/qualification/", {**PASSING_DISPLAY, "heard_number": number}
    )
    client.post(f"/study/s/{session.pk}/instructions/")
    items = {
        i.stimulus.section + i.stimulus.role: i for i in session.items.select_related("stimulus")
    }
    url = f"/study/s/{session.pk}/clip/"
    rating = client.get(f"{url}{items['ratingregular'].token}/").content.decode()
    assert re.search(r'<fieldset class="question"[^>]*>\s*<legend class="prompt">How well', rating)
    assert 'aria-live="polite"' in rating and "muted-note" not in rating
    lips = client.get(f"{url}{items['lipreadingregular'].token}/").content.decode()
    token = items["lipreadingregular"].token
    assert f'<label class="prompt" for="q-{token}-transcript">' in lips
    assert f'id="q-{token}-transcript"' in lips
    assert "no sound" in lips and " muted " in lips


def test_ab_pairs_draw_their_sides_and_pairs_of_one_system_are_refused(db):
    import random

    study = services.study_create(slug="ab2", title="AB", questions=[questions.preference()])
    sides = set()
    for seed, u in enumerate(["u0", "u1", "u2", "u3", "u4", "u5"]):
        pair = services.preference_pair_add(
            study=study, first=("m1", None), second=("m2", None), utterance_id=u,
            rng=random.Random(seed),
        )  # fmt: skip
        assert {pair.system, pair.beside_system} == {"m1", "m2"}
        sides.add(pair.system)
    assert sides == {"m1", "m2"}
    with pytest.raises(errors.AnnotationError, match="two different systems"):
        services.preference_pair_add(
            study=study, first=("m1", None), second=("m1", None), utterance_id="u9"
        )
