"""Reliability AUROC on cases with a known answer."""

import numpy as np
import pytest

from modelzoo.metrics.reliability import auroc


def test_scores_that_separate_clean_from_corrupted_frames_give_one():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0


def test_scores_that_rise_with_corruption_give_zero():
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0


def test_hand_worked_case_counts_pairs_and_ties():
    # clean 0.8, 0.4; corrupted 0.6, 0.4: pairs (0.8>0.6) 1, (0.8>0.4) 1, (0.4<0.6) 0,
    # (0.4=0.4) 0.5 -> 2.5 / 4
    assert auroc([0.8, 0.4, 0.6, 0.4], [1, 1, 0, 0]) == pytest.approx(0.625)


def test_flat_scores_are_at_chance():
    assert auroc(np.full(10, 0.5), np.arange(10) < 3) == pytest.approx(0.5)


def test_matches_the_pairwise_definition_on_random_data():
    rng = np.random.default_rng(0)
    scores, clean = rng.normal(size=200).round(1), rng.random(200) < 0.4
    pairs = scores[clean][:, None] - scores[~clean][None, :]
    expected = ((pairs > 0) + 0.5 * (pairs == 0)).mean()
    assert auroc(scores, clean) == pytest.approx(expected)


def test_undefined_without_both_kinds_of_frame():
    assert auroc([0.3, 0.4], [True, True]) is None
