"""Co-articulation: does the lip shape of a phone change with its neighbours as real lips do?

CALS (arXiv 2305.16822) argues that a phone's lip shape depends on its phonetic context and
reads the neighbouring phones for that reason; this check measures it on any video with phone
timings (SynthGrid's `<clip>.json`), so generated clips can be held beside the real ones.

Protocol:
- **Lip shape** of a frame: the inner-lip opening (mean distance of the inner-lip pairs 61-67,
  62-66, 63-65, 0-based iBUG) and the mouth width (corners 48-54), each divided by the outer
  eye-corner distance (36-45), from the project's tracker's raw per-frame fits (as LMD uses);
  each clip's mean shape is subtracted, so a face's resting mouth does not count as context.
- **Token**: one occurrence of a phone (pauses left out): the mean shape over the frames whose
  centres ((i + 0.5) / fps) fall inside the phone (the frame nearest its middle when none does),
  with its context, the previous and the next phone (a pause or the clip's edge is "_"). Stress
  and allophone marks ("'", ",", "#", ";") are dropped from symbols.
- **Context effect** of a (phone, context) cell: the mean shape of its tokens minus the mean of
  the phone's cell means. Only phones seen in at least two contexts count.
- `coart_spread`: the standard deviation of the context effects, over cells and both shape
  dimensions (units: inter-ocular distance). A mouth that ignores context scores 0.
- `coart_corr`: the Pearson correlation of a system's context effects with the reference's
  (the real clips), over the cells and dimensions both have: whether the context changes the
  lips the same way. None when either side has no variation (a static face).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PROTOCOL = {
    "shape": "inner-lip opening (61-67, 62-66, 63-65) and mouth width (48-54) / eye corners "
    "36-45, raw tracker fits, clip mean removed",
    "token": "mean shape over the frames inside a phone, context = (previous, next) phone",
    "coart_spread": "std of (phone, context) cell means about the phone's mean, phones with "
    ">= 2 contexts",
    "coart_corr": "Pearson r of the context effects with the real clips'",
}
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
MOUTH_CORNERS = (48, 54)
EYE_CORNERS = (36, 45)
PAUSE = "_"
MARKS = "',#;"


@dataclass(frozen=True)
class Token:
    phone: str
    context: tuple[str, str]  # (previous phone, next phone)
    shape: np.ndarray  # (2,): opening, width


def lip_shapes(raw: np.ndarray) -> np.ndarray:
    """(T, 2) opening and width of (T, 68, 2) landmark fits over the inter-ocular distance, minus
    the clip's mean; NaN rows where no face was fitted."""
    raw = raw.astype(np.float64)
    opening = np.mean([np.linalg.norm(raw[:, a] - raw[:, b], axis=-1) for a, b in INNER_LIP_PAIRS],
                      axis=0)  # fmt: skip
    width = np.linalg.norm(raw[:, MOUTH_CORNERS[0]] - raw[:, MOUTH_CORNERS[1]], axis=-1)
    eyes = np.linalg.norm(raw[:, EYE_CORNERS[0]] - raw[:, EYE_CORNERS[1]], axis=-1)
    shapes = np.stack([opening, width], axis=1) / eyes[:, None]  # (T, 2)
    if np.isnan(shapes).all():
        return shapes
    return shapes - np.nanmean(shapes, axis=0)


def _symbol(phone: str) -> str:
    return PAUSE if phone.startswith(PAUSE) else phone.strip(MARKS)


def phone_tokens(phones: Sequence, shapes: np.ndarray, fps: float = 25.0) -> list[Token]:
    """Tokens of `phones` ([symbol, start s, end s] in clip time) on a clip's (T, 2) shapes;
    phones whose frames have no face, or that fall outside the clip, are left out."""
    symbols = [_symbol(p[0]) for p in phones]
    centres = (np.arange(len(shapes)) + 0.5) / fps
    tokens = []
    for i, (symbol, (_, start, end)) in enumerate(zip(symbols, phones, strict=True)):
        if symbol == PAUSE:
            continue
        inside = np.flatnonzero((centres >= start) & (centres < end))
        if len(inside) == 0:
            nearest = int(round((start + end) / 2 * fps - 0.5))
            inside = np.array([nearest]) if 0 <= nearest < len(shapes) else inside
        values = shapes[inside]
        if len(values) == 0 or np.isnan(values).any():
            continue
        before = symbols[i - 1] if i > 0 else PAUSE
        after = symbols[i + 1] if i + 1 < len(symbols) else PAUSE
        tokens.append(Token(symbol, (before, after), values.mean(axis=0)))
    return tokens


def context_effects(tokens: Sequence[Token]) -> dict[tuple[str, tuple[str, str]], np.ndarray]:
    """{(phone, context): cell mean minus the phone's mean of cell means} for the phones seen in
    at least two contexts."""
    cells: dict[str, dict[tuple[str, str], list[np.ndarray]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for token in tokens:
        cells[token.phone][token.context].append(token.shape)
    effects = {}
    for phone, contexts in cells.items():
        if len(contexts) < 2:
            continue
        means = {context: np.mean(shapes, axis=0) for context, shapes in contexts.items()}
        centre = np.mean(list(means.values()), axis=0)
        effects.update({(phone, context): mean - centre for context, mean in means.items()})
    return effects


def spread(effects: dict) -> float | None:
    """`coart_spread`: the standard deviation of the context effects (None without any)."""
    if not effects:
        return None
    values = np.concatenate(list(effects.values()))
    return float(np.sqrt(np.mean(values**2)))  # effects are centred per phone


def correlation(effects: dict, reference: dict) -> float | None:
    """`coart_corr`: Pearson r of `effects` with `reference` over their common cells; None when
    they share fewer than two cells or either has no variation."""
    common = sorted(effects.keys() & reference.keys())
    if len(common) < 2:
        return None
    a = np.concatenate([effects[k] for k in common])
    b = np.concatenate([reference[k] for k in common])
    if np.ptp(a) < 1e-12 or np.ptp(b) < 1e-12:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def compare(tokens: dict[str, list[Token]], reference: str = "real") -> dict[str, dict]:
    """{system: {"coart_spread", "coart_corr", "coart_cells"}} of each system's tokens over a
    corpus, each correlated with `reference`'s."""
    effects = {system: context_effects(found) for system, found in tokens.items()}
    anchor = effects.get(reference, {})
    return {
        system: {
            "coart_spread": spread(found),
            "coart_corr": correlation(found, anchor),
            "coart_cells": len(found),
        }
        for system, found in effects.items()
    }
