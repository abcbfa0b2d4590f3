"""The co-articulation check on hand-made lips: shapes from landmarks, tokens from phone timings,
and the spread and correlation of context effects worked out by hand."""

import numpy as np
import pytest

from modelzoo.metrics import coarticulation as co


def face(opening: float, width: float, eyes: float = 100.0) -> np.ndarray:
    """68 landmarks with the eye corners `eyes` px apart, the mouth corners `width` px apart and
    each inner-lip pair `opening` px apart."""
    points = np.zeros((68, 2))
    points[36], points[45] = (0, 0), (eyes, 0)
    points[48], points[54] = (0, 80), (width, 80)
    for upper, lower in co.INNER_LIP_PAIRS:
        points[upper], points[lower] = (20, 80), (20, 80 + opening)
    return points


def test_lip_shape_is_opening_and_width_over_eye_distance_minus_the_clip_mean():
    raw = np.stack([face(10, 50), face(30, 60, eyes=100), face(0, 0)])
    raw[2] = np.nan  # no face fitted in the last frame
    shapes = co.lip_shapes(raw)
    # (0.1, 0.5) and (0.3, 0.6), mean (0.2, 0.55)
    np.testing.assert_allclose(shapes[:2], [[-0.1, -0.05], [0.1, 0.05]])
    assert np.isnan(shapes[2]).all()


def test_tokens_average_the_frames_inside_each_phone_with_its_neighbours_as_context():
    shapes = np.arange(10, dtype=float)[:, None].repeat(2, axis=1)  # frame i has shape (i, i)
    # At 25 fps frame centres are 0.02, 0.06, 0.10, ...: "b" holds frames 1-2, "a" frames 3-5,
    # "t" (20 ms) none, so the frame nearest its middle (0.25 s: frame 6).
    phones = [["_:", 0.0, 0.04], ["'b", 0.04, 0.12], ["a#", 0.12, 0.24], ["t", 0.24, 0.26]]
    tokens = co.phone_tokens(phones, shapes)
    assert [(t.phone, t.context) for t in tokens] == [
        ("b", ("_", "a")),
        ("a", ("b", "t")),
        ("t", ("a", "_")),
    ]
    np.testing.assert_allclose([t.shape[0] for t in tokens], [1.5, 4.0, 6.0])


def test_a_phone_without_a_face_in_its_frames_is_left_out():
    shapes = np.zeros((4, 2))
    shapes[1] = np.nan
    tokens = co.phone_tokens([["b", 0.0, 0.04], ["a", 0.04, 0.08], ["t", 0.08, 0.16]], shapes)
    assert [t.phone for t in tokens] == ["b", "t"]


def tokens_of(effect_after_b: float, effect_after_m: float, base=(0.2, 0.0)) -> list:
    """Two tokens of "a" after "b" and one after "m"; opening moved by the given effects."""
    base = np.array(base)
    return [
        co.Token("a", ("b", "t"), base + (effect_after_b + 0.01, 0)),
        co.Token("a", ("b", "t"), base + (effect_after_b - 0.01, 0)),
        co.Token("a", ("m", "k"), base + (effect_after_m, 0)),
        co.Token("t", ("a", "_"), base),  # one context only: not counted
    ]


def test_spread_and_correlation_on_a_hand_worked_corpus():
    systems = {
        "real": tokens_of(0.1, -0.1),
        "same-way": tokens_of(0.05, -0.05, base=(0.5, 0.3)),
        "backwards": tokens_of(-0.1, 0.1),
        "static": tokens_of(0.0, 0.0),
    }
    # Cell means of "a": opening base+0.1 and base-0.1 about their mean; width effects 0. The
    # effects (0.1, 0, -0.1, 0) have a root mean square of sqrt(0.02 / 4).
    found = co.compare(systems, reference="real")
    assert found["real"]["coart_spread"] == pytest.approx(np.sqrt(0.005))
    assert found["real"]["coart_cells"] == 2
    assert found["real"]["coart_corr"] == pytest.approx(1.0)
    assert found["same-way"]["coart_spread"] == pytest.approx(np.sqrt(0.005) / 2)
    assert found["same-way"]["coart_corr"] == pytest.approx(1.0)
    assert found["backwards"]["coart_corr"] == pytest.approx(-1.0)
    assert found["static"]["coart_spread"] == pytest.approx(0.0)
    assert found["static"]["coart_corr"] is None


def test_no_phone_in_two_contexts_gives_no_figures():
    found = co.compare({"real": [co.Token("a", ("b", "t"), np.zeros(2))]})
    assert found["real"] == {"coart_spread": None, "coart_corr": None, "coart_cells": 0}
