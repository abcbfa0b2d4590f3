"""Study metrics against independent computations: scipy, krippendorff, jiwer, hand-worked cases."""

import jiwer
import krippendorff
import numpy as np
import pytest
from scipy import stats

from annotation import analysis, services

from .factories import grid, load_votes

NAN = np.nan


def test_t_ci_matches_scipy_t_interval():
    votes = [1, 3, 4, 4, 5, 2]
    low, high = stats.t.interval(0.95, len(votes) - 1, loc=np.mean(votes), scale=stats.sem(votes))
    summary = analysis.t_ci(votes)
    assert summary["mean"] == pytest.approx(19 / 6)
    assert summary["ci95"] == pytest.approx((high - low) / 2)


def test_t_ci_of_a_single_vote_has_no_interval():
    assert analysis.t_ci([4])["ci95"] is None


def test_crowdmos_ci_matches_hand_worked_variance_components():
    # 2 raters x 2 stimuli, complete. Rows: raters, columns: stimuli.
    z = np.array([[1.0, 3.0], [3.0, 5.0]])
    # Total sample variance of 1,3,3,5 = 8/3; within-rater (1,3),(3,5): 2 each; within-stimulus: 2.
    v_all, v_su, v_wu = 8 / 3, 2.0, 2.0
    v_s, v_w, v_u = v_all - v_wu, v_all - v_su, v_su + v_wu - v_all
    v_mu = v_s * (2**2 + 2**2) / 16 + v_w * (2**2 + 2**2) / 16 + v_u / 4
    expected = stats.t.ppf(0.975, 1) * np.sqrt(v_mu)
    assert analysis.crowdmos_ci(z) == pytest.approx(expected)


def test_crowdmos_ci_with_missing_ratings_weights_by_vote_counts():
    z = np.array([[1.0, 2.0, NAN], [NAN, 4.0, 5.0], [2.0, NAN, 4.0]])
    values = z[~np.isnan(z)]
    v_all = values.var(ddof=1)
    v_su = np.mean([np.var([1, 2], ddof=1), np.var([4, 5], ddof=1), np.var([2, 4], ddof=1)])
    v_wu = np.mean([np.var([1, 2], ddof=1), np.var([2, 4], ddof=1), np.var([5, 4], ddof=1)])
    v_s, v_w = max(v_all - v_wu, 0), max(v_all - v_su, 0)
    v_u = max(v_su + v_wu - v_all, 0)
    v_mu = (v_s * 12 + v_w * 12) / 36 + v_u / 6  # every rater and stimulus has 2 of 6 votes
    expected = stats.t.ppf(0.975, 2) * np.sqrt(v_mu)
    assert analysis.crowdmos_ci(z) == pytest.approx(expected)


def test_crowdmos_ci_is_wider_than_the_vote_ci_when_raters_disagree_in_level():
    rng = np.random.default_rng(1)
    bias = rng.normal(0, 1, size=(8, 1))
    z = np.clip(np.round(3 + bias + rng.normal(0, 0.3, size=(8, 10))), 1, 5)
    assert analysis.crowdmos_ci(z) > analysis.t_ci(z.ravel())["ci95"]


def test_alpha_ordinal_matches_the_krippendorff_package_with_missing_votes():
    m = np.array([[1, 2, 3, 3, NAN], [1, 2, 3, 4, 5], [NAN, 3, 3, 4, 5]])
    expected = krippendorff.alpha(
        reliability_data=m, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
    )
    assert analysis.alpha_ordinal(m, range(1, 6)) == pytest.approx(expected)


def test_alpha_of_perfect_agreement_is_one():
    m = np.array([[1, 2, 5, 4], [1, 2, 5, 4]])
    assert analysis.alpha_ordinal(m, range(1, 6)) == pytest.approx(1.0)


def test_alpha_is_none_when_no_unit_has_two_votes():
    assert analysis.alpha_ordinal(np.array([[1, NAN], [NAN, 3]]), range(1, 6)) is None


def test_mos_table_leaves_out_excluded_and_rejected_raters(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1"])
    rows = [
        ("r1", "a", "u0", "realness", 4),
        ("r1", "a", "u1", "realness", 5),
        ("r2", "a", "u0", "realness", 3),
        ("r2", "a", "u1", "realness", 4),
        ("bad", "a", "u0", "realness", 1),
        ("bad", "a", "u1", "realness", 1),
        ("rej", "a", "u0", "realness", 1),
    ]
    load_votes(acr_study, rows, verdicts={"bad": "exclude", "rej": "reject"})
    (row,) = [r for r in analysis.mos_table(acr_study) if r["system"] == "a"]
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(4.0)
    assert row["ci95"] == pytest.approx(analysis.t_ci([4, 5, 3, 4])["ci95"])
    assert row["ci95_crowdmos"] == pytest.approx(
        analysis.crowdmos_ci(np.array([[4.0, 5.0], [3.0, 4.0]]))
    )


def test_study_agreement_matches_krippendorff_on_the_same_votes(acr_study):
    grid(acr_study, ["a"], ["u0", "u1", "u2"])
    rows = [
        ("r1", "a", "u0", "lipsync", 1),
        ("r1", "a", "u1", "lipsync", 3),
        ("r2", "a", "u0", "lipsync", 2),
        ("r2", "a", "u1", "lipsync", 3),
        ("r2", "a", "u2", "lipsync", 5),
        ("r3", "a", "u2", "lipsync", 4),
    ]
    load_votes(acr_study, rows)
    matrix = np.array([[1, 3, NAN], [2, 3, 5], [NAN, NAN, 4]])
    expected = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
    )
    (result,) = analysis.agreement(acr_study)
    assert result["alpha_ordinal"] == pytest.approx(expected)


def test_pairwise_test_matches_scipy_paired_t_test_on_utterance_means(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1", "u2"])
    a = {"u0": [4, 5], "u1": [3, 3], "u2": [5, 4]}
    b = {"u0": [2, 3], "u1": [3, 2], "u2": [3, 3]}
    rows = [
        (f"r{i}{u}{s}", s, u, "realness", v)
        for s, table in [("a", a), ("b", b)]
        for u, vs in table.items()
        for i, v in enumerate(vs)
    ]
    load_votes(acr_study, rows)
    expected = stats.ttest_rel([np.mean(a[u]) for u in a], [np.mean(b[u]) for u in a])
    (test,) = analysis.pairwise_tests(acr_study)
    assert test["p"] == pytest.approx(expected.pvalue)
    assert test["p_holm"] == pytest.approx(expected.pvalue)


def test_holm_adjustment_of_a_hand_worked_case():
    assert analysis.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_word_counts_apply_the_versioned_normalisation():
    counts = analysis.word_counts("Don't stop, the music!", "do not stop music")
    assert counts == {"H": 4, "S": 0, "D": 1, "I": 0, "N": 5}
    assert analysis.NORMALISATION_VERSION == "synclab-wer-1"


def test_empty_transcript_counts_every_word_as_deleted():
    assert analysis.word_counts("bin blue at f two", "") == {"H": 0, "S": 0, "D": 5, "I": 0, "N": 5}


def lipreading_study(db):
    study = services.study_create(slug="lr", title="LR", kind="transcribe")
    refs = {"u0": "place blue at f two now", "u1": "set green by a nine again"}
    for u, ref in refs.items():
        for system in ["real", "gen"]:
            services.stimulus_add(
                study=study,
                path=None,
                system=system,
                utterance_id=u,
                reference_text=ref,
                is_real=system == "real",
            )
    return study, refs


def test_relative_word_accuracy_is_the_ratio_of_pooled_jiwer_accuracies(db):
    from annotation import imports

    study, refs = lipreading_study(db)
    heard = {
        ("real", "u0"): ["place blue at f two now", "place blue at two now"],
        ("real", "u1"): ["set green by a nine again"],
        ("gen", "u0"): ["place blue f two", "lace blue at f two now"],
        ("gen", "u1"): ["set green by nine", "set red by a nine again now", "set"],
    }
    lines = ["rater,system,utterance_id,question,transcript,reference_text,is_real"]
    for (system, u), texts in heard.items():
        for i, text in enumerate(texts):
            lines.append(
                f"{system}{u}{i},{system},{u},transcript,{text},{refs[u]},{int(system == 'real')}"
            )
    imports.import_long_csv(study=study, text="\n".join(lines))

    def jiwer_acc(system):
        pairs = [(refs[u], t) for (s, u), texts in heard.items() if s == system for t in texts]
        return 1 - jiwer.wer([r for r, _ in pairs], [t for _, t in pairs])

    table = {row["system"]: row for row in analysis.lipreading_table(study, n_boot=300)}
    assert table["real"]["word_accuracy"] == pytest.approx(jiwer_acc("real"))
    assert table["gen"]["wer"] == pytest.approx(1 - jiwer_acc("gen"))
    assert table["gen"]["relative_pct"] == pytest.approx(100 * jiwer_acc("gen") / jiwer_acc("real"))
    low, high = table["gen"]["relative_ci95"]
    assert low <= table["gen"]["relative_pct"] <= high
    assert table["real"]["relative_pct"] is None


def test_relative_accuracy_ci_collapses_when_every_response_is_alike():
    counts_sys = {"H": 3, "S": 1, "D": 0, "I": 0, "N": 4}
    counts_real = {"H": 4, "S": 0, "D": 0, "I": 0, "N": 4}
    records = [
        (u, s, c)
        for u in ["u0", "u1", "u2"]
        for s, c in [("gen", counts_sys), ("real", counts_real)]
    ]
    ratio, low, high = analysis.relative_accuracy(records, "gen", "real", n_boot=200)
    assert ratio == low == high == pytest.approx(0.75)


def test_pairwise_test_of_a_constant_difference_has_no_t_and_p_zero(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1"])
    rows = [
        ("r1", "a", "u0", "realness", 4),
        ("r2", "a", "u1", "realness", 5),
        ("r3", "b", "u0", "realness", 3),
        ("r4", "b", "u1", "realness", 4),
    ]
    load_votes(acr_study, rows)
    (test,) = analysis.pairwise_tests(acr_study)
    assert (test["t"], test["p"], test["mean_diff"]) == (None, 0.0, 1.0)


def test_rater_table_gives_each_rater_r_with_the_others_mean(acr_study):
    grid(acr_study, ["a"], ["u0", "u1", "u2"])
    votes = {"x": [1, 2, 3], "y": [3, 2, 1], "z": [1, 2, 4]}
    load_votes(
        acr_study,
        [(r, "a", f"u{i}", "realness", v) for r, vs in votes.items() for i, v in enumerate(vs)],
    )
    rows = {row["rater"]: row for row in analysis.rater_table(acr_study)}
    # Others' mean for x is (2, 2, 2.5): r = 0.5 / (sqrt(2) * sqrt(1/6)).
    assert rows["x"]["loo_r"] == pytest.approx(0.5 / (np.sqrt(2) * np.sqrt(1 / 6)))
    assert rows["y"]["loo_r"] < 0
    assert rows["x"]["responses"] == 3
