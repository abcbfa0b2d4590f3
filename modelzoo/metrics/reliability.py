"""How well per-frame reliability scores separate corrupted frames from clean ones: AUROC.

Protocol: frames are pooled over clips and conditions; a frame's label says whether its stream
was corrupted there (the corruption lab's own per-frame mask: the video segments it planned, the
audio noise over the whole clip or its partial stretches). AUROC is the probability that a clean
frame scores higher than a corrupted one (ties count half), computed from ranks (the
Mann-Whitney U statistic); 0.5 is chance, 1 a perfect separation, below 0.5 scores that rise with
corruption. It is undefined (None) without both clean and corrupted frames.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

PROTOCOL = {
    "statistic": "AUROC of score for clean (1) vs corrupted (0) frames, Mann-Whitney ranks",
    "pooling": "all frames of all clips and conditions of a model",
}


def auroc(scores, clean) -> float | None:
    """P(score of a clean frame > score of a corrupted frame), ties counting half."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    clean = np.asarray(clean, dtype=bool).ravel()
    if scores.shape != clean.shape:
        raise ValueError(f"{scores.shape[0]} scores for {clean.shape[0]} labels")
    n_clean, n_corrupt = int(clean.sum()), int((~clean).sum())
    if not n_clean or not n_corrupt:
        return None
    ranks = rankdata(scores)  # average ranks for ties
    u = ranks[clean].sum() - n_clean * (n_clean + 1) / 2
    return float(u / (n_clean * n_corrupt))
