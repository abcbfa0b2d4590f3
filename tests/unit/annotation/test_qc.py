"""Quality-control checks: each failure is recorded with its reason and sets the verdict."""

import random
from datetime import timedelta

import jiwer
import pytest

from annotation import errors, qc, responses, services, sessions
from annotation.models import Session

from .factories import grid, load_votes, watched


def run_session(study, values, played=True, pid="p0"):
    """Enter, answer every item with the next of `values` (cycled) and complete."""
    if not played:
        study.require_played_to_end = False
        study.save()
    session = sessions.rater_enter(
        study=study, platform="link", external_id=pid, rng=random.Random(0)
    )
    session.mark_started()
    items = list(session.items.select_related("stimulus"))
    for i, item in enumerate(items):
        value = values[i % len(values)]
        if item.stimulus.role in {"gold", "trap"} and isinstance(value, dict):
            value = value[item.stimulus.role]
        elif isinstance(value, dict):
            value = value["regular"]
        responses.response_record(
            session=session,
            item=watched(session, item) if played else item,
            answers={"realness": value, "lipsync": value},
        )
    return sessions.session_complete(session=session)


def checks(session):
    return {r["check"] for r in session.qc_reasons}


def test_varied_attentive_session_is_accepted(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    session = run_session(acr_study, [1, 3, 5, 2])
    assert (session.qc_verdict, session.qc_reasons) == (Session.Verdict.ACCEPT, [])


def test_clips_not_played_to_the_end_reject_the_session(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    session = run_session(acr_study, [1, 3, 5, 2], played=False)
    assert session.qc_verdict == Session.Verdict.REJECT
    assert "played_to_end" in checks(session)


def test_zero_variance_rater_is_excluded(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    session = run_session(acr_study, [4])
    assert session.qc_verdict == Session.Verdict.EXCLUDE
    assert checks(session) == {"min_variance"}


def test_gold_answer_off_by_more_than_the_tolerance_excludes(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    acr_study.gold_per_session = 1
    acr_study.save()
    services.stimulus_add(
        study=acr_study,
        path=None,
        system="g",
        utterance_id="g",
        role="gold",
        gold_answers={"realness": 5},
    )
    session = run_session(acr_study, [{"regular": 2, "gold": 3}, {"regular": 4, "gold": 3}])
    assert session.qc_verdict == Session.Verdict.EXCLUDE
    assert "gold" in checks(session)


def test_gold_answer_within_the_tolerance_passes(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    acr_study.gold_per_session = 1
    acr_study.save()
    services.stimulus_add(
        study=acr_study,
        path=None,
        system="g",
        utterance_id="g",
        role="gold",
        gold_answers={"realness": 5, "lipsync": 5},
    )
    session = run_session(acr_study, [{"regular": 2, "gold": 4}, {"regular": 5, "gold": 4}])
    assert "gold" not in checks(session)


def test_failed_trap_rejects_the_session(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    acr_study.traps_per_session = 1
    acr_study.save()
    services.stimulus_add(
        study=acr_study,
        path=None,
        system="t",
        utterance_id="t",
        role="trap",
        gold_answers={"realness": 2},
    )
    session = run_session(acr_study, [{"regular": 1, "trap": 3}, {"regular": 5, "trap": 3}])
    assert session.qc_verdict == Session.Verdict.REJECT
    assert "trap" in checks(session)


def test_null_in_qc_config_switches_a_check_off(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    acr_study.qc_config = {"min_variance": None}
    acr_study.save()
    assert run_session(acr_study, [4]).qc_verdict == Session.Verdict.ACCEPT


def test_session_faster_than_its_media_is_excluded(acr_study):
    stimuli = grid(acr_study, ["a", "b"], ["u0", "u1", "u2", "u3"])
    for s in stimuli:
        s.duration_s = 10.0
        s.save()
    session = run_session(acr_study, [1, 3, 5, 2])
    session.started_at = session.finished_at - timedelta(seconds=5)
    verdict, reasons = qc.session_verdict(session)
    assert verdict == Session.Verdict.EXCLUDE
    assert [r["check"] for r in reasons] == ["too_fast"]


def test_loo_correlation_flags_a_rater_who_contradicts_the_others(acr_study):
    grid(acr_study, ["a"], [f"u{i}" for i in range(6)])
    truth = [1, 2, 3, 4, 5, 3]
    rows = [
        (r, "a", f"u{i}", "realness", v) for r in ["r1", "r2", "r3"] for i, v in enumerate(truth)
    ]
    rows += [("contrarian", "a", f"u{i}", "realness", 6 - v) for i, v in enumerate(truth)]
    load_votes(acr_study, rows)
    qc.verdicts_rerun(study=acr_study)
    verdicts = dict(acr_study.sessions.values_list("rater__external_id", "qc_verdict"))
    assert verdicts == {"r1": "accept", "r2": "accept", "r3": "accept", "contrarian": "exclude"}


def test_loo_correlation_of_hand_worked_votes():
    votes = {("x", s, "q"): v for s, v in zip("abc", [1, 2, 3], strict=True)}
    votes |= {("y", s, "q"): v for s, v in zip("abc", [3, 2, 1], strict=True)}
    votes |= {("z", s, "q"): v for s, v in zip("abc", [1, 2, 4], strict=True)}
    r = qc.loo_correlations(votes, min_common=3)
    # Others' mean for x: y,z -> (2, 2, 2.5); for y: x,z -> (1, 2, 3.5).
    assert r["x"] == pytest.approx(0.8660254, abs=1e-6)
    assert r["y"] < 0


def bt500_votes():
    """10 raters near the mean on 8 clips (kurtosis 2.97 with the outlier) and one who swings."""
    base = [2, 2, 3, 3, 3, 3, 3, 3, 4, 4]
    votes = {}
    for clip in range(8):
        for r in range(10):
            votes[(f"r{r}", f"c{clip}", "q")] = base[(r + clip) % 10]
        votes[("swing", f"c{clip}", "q")] = 5 if clip % 2 else 1
    return votes


def test_bt500_screening_rejects_an_observer_far_out_on_both_sides():
    assert set(qc.bt500_rejections(bt500_votes())) == {"swing"}


def test_bt500_screening_rejects_nobody_when_it_would_reject_everybody():
    votes = {("a", "c", "q"): 1, ("b", "c", "q"): 5}
    assert qc.bt500_rejections(votes) == {}


def test_bt500_screening_runs_only_when_the_study_asks_for_it(acr_study):
    grid(acr_study, ["a"], [f"c{i}" for i in range(8)])
    rows = [(rater, "a", clip, "realness", v) for (rater, clip, _), v in bt500_votes().items()]
    load_votes(acr_study, rows)
    acr_study.qc_config = {"loo_correlation": None}
    acr_study.save()
    qc.verdicts_rerun(study=acr_study)
    assert not acr_study.sessions.exclude(qc_verdict="accept").exists()
    acr_study.qc_config = {"loo_correlation": None, "bt500": {}}
    acr_study.save()
    qc.verdicts_rerun(study=acr_study)
    excluded = acr_study.sessions.filter(qc_verdict="exclude")
    assert list(excluded.values_list("rater__external_id", flat=True)) == ["swing"]


GOLD_WORDS = "bin blue at f two now"
SPOKEN = "place green in c five soon"


@pytest.fixture
def lip_study(db):
    study = services.study_create(
        slug="lips",
        title="Lips",
        kind="transcribe",
        stimuli_per_session=4,
        votes_per_stimulus=3,
        gold_per_session=1,
        traps_per_session=1,
    )
    grid(study, ["real", "gen"], ["u0", "u1", "u2", "u3"], reference_text=SPOKEN)
    services.stimulus_add(
        study=study,
        path=None,
        system="gold",
        utterance_id="g",
        role="gold",
        reference_text=GOLD_WORDS,
    )
    # The clip's on-screen text says: type the word "banana".
    services.stimulus_add(
        study=study,
        path=None,
        system="trap",
        utterance_id="t",
        role="trap",
        gold_answers={"transcript": "banana"},
    )
    return study


def lip_session(study, gold, trap):
    """Transcribe every clip: the gold and trap clips as given, the others word for word."""
    session = sessions.rater_enter(
        study=study, platform="link", external_id="p0", rng=random.Random(0)
    )
    session.mark_started()
    for item in session.items.select_related("stimulus"):
        words = {"gold": gold, "trap": trap}.get(item.stimulus.role, SPOKEN)
        responses.response_record(
            session=session, item=watched(session, item), answers={"transcript": words}
        )
    return sessions.session_complete(session=session)


def test_lipreading_gold_and_trap_answered_within_tolerance_pass(lip_study):
    # One word of six missing (WER 1/6), and the trap's word with other case and punctuation.
    assert jiwer.wer(GOLD_WORDS, "bin blue at two now") == pytest.approx(1 / 6)
    session = lip_session(lip_study, gold="Bin blue at two, now", trap="Banana!")
    assert (session.qc_verdict, session.qc_reasons) == (Session.Verdict.ACCEPT, [])


def test_lipreading_gold_beyond_the_wer_tolerance_excludes_with_its_wer(lip_study):
    wer = jiwer.wer(GOLD_WORDS, "bin")
    assert wer > 0.5
    session = lip_session(lip_study, gold="bin", trap="banana")
    assert session.qc_verdict == Session.Verdict.EXCLUDE
    [reason] = session.qc_reasons
    assert reason["check"] == "gold" and f"(WER {wer:.2f})" in reason["detail"]


def test_lipreading_gold_tolerance_comes_from_the_study(lip_study):
    lip_study.qc_config = {"gold": {"max_wer": 0.1}}
    lip_study.save()
    session = lip_session(lip_study, gold="bin blue at two now", trap="banana")
    assert checks(session) == {"gold"}


def test_lipreading_trap_with_another_word_rejects(lip_study):
    session = lip_session(lip_study, gold=GOLD_WORDS, trap="apple")
    assert session.qc_verdict == Session.Verdict.REJECT
    [reason] = session.qc_reasons
    assert reason["check"] == "trap" and "'apple' for 'banana'" in reason["detail"]


def test_lipreading_trap_needs_the_words_it_asks_for(lip_study):
    with pytest.raises(errors.AnnotationError, match="on-screen instruction"):
        services.stimulus_add(
            study=lip_study, path=None, system="trap", utterance_id="t2", role="trap"
        )
