"""Lip-reading transcripts against their references: the fixed, versioned normalisation and the
word counts under it (jiwer; annotation-research.md §7), shared by the metrics and the QC checks.
"""

import jiwer

NORMALISATION_VERSION = "synclab-wer-1"
# synclab-wer-1: lower case, English contractions expanded, Unicode punctuation removed, spaces
# collapsed. Changing any step needs a new version name: published figures cite the version.
WER_TRANSFORM = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.ExpandCommonEnglishContractions(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def word_counts(reference: str, hypothesis: str) -> dict:
    """Hits, substitutions, deletions, insertions and reference length N under synclab-wer-1."""
    out = jiwer.process_words(
        reference or "",
        hypothesis or "",
        reference_transform=WER_TRANSFORM,
        hypothesis_transform=WER_TRANSFORM,
    )
    h, s, d, i = out.hits, out.substitutions, out.deletions, out.insertions
    return {"H": h, "S": s, "D": d, "I": i, "N": h + s + d}


def word_error_rate(reference: str, hypothesis: str) -> float | None:
    """(S + D + I) / N under the normalisation; None when the reference has no words."""
    counts = word_counts(reference, hypothesis)
    if not counts["N"]:
        return None
    return (counts["S"] + counts["D"] + counts["I"]) / counts["N"]
