"""Lip-reading transcripts against their references: the fixed, versioned normalisation and the
word counts under it, used by the metrics and the QC checks (annotation-research.md §7).

They are modelzoo.metrics.text's, so that human and machine lip-reading WERs are computed alike.
"""

from modelzoo.metrics.text import NORMALISATION_VERSION, WER_TRANSFORM, word_counts, word_error_rate

__all__ = ["NORMALISATION_VERSION", "WER_TRANSFORM", "word_counts", "word_error_rate"]
