"""Word and character error rates under one fixed, versioned normalisation (jiwer).

Model transcripts (AV-RelScore writes upper case and `?` for characters outside its vocabulary)
and human lip-reading transcripts (annotation.transcripts) are scored under the same
normalisation, so that their WERs can be compared; published figures cite NORMALISATION_VERSION.
WER = (S + D + I) / N over the words of the normalised reference, CER the same over its characters
(spaces included, as jiwer counts them); a corpus figure pools the counts over its utterances
rather than averaging per-utterance rates.
"""

import jiwer

NORMALISATION_VERSION = "synclab-wer-1"
# synclab-wer-1: lower case, English contractions expanded, Unicode punctuation removed, spaces
# collapsed. Changing any step needs a new version name: published figures cite the version.
_NORMALISE = [
    jiwer.ToLowerCase(),
    jiwer.ExpandCommonEnglishContractions(),
    jiwer.RemovePunctuation(),
    jiwer.RemoveMultipleSpaces(),
    jiwer.Strip(),
]
WER_TRANSFORM = jiwer.Compose([*_NORMALISE, jiwer.ReduceToListOfListOfWords()])
CER_TRANSFORM = jiwer.Compose([*_NORMALISE, jiwer.ReduceToListOfListOfChars()])
PROTOCOL = {"normalisation": NORMALISATION_VERSION, "library": "jiwer", "pooling": "counts"}


def word_counts(reference: str, hypothesis: str) -> dict:
    """Hits, substitutions, deletions, insertions and reference length N under the normalisation."""
    out = jiwer.process_words(
        reference or "",
        hypothesis or "",
        reference_transform=WER_TRANSFORM,
        hypothesis_transform=WER_TRANSFORM,
    )
    h, s, d, i = out.hits, out.substitutions, out.deletions, out.insertions
    return {"H": h, "S": s, "D": d, "I": i, "N": h + s + d}


def char_counts(reference: str, hypothesis: str) -> dict:
    """The same counts over characters."""
    out = jiwer.process_characters(
        reference or "",
        hypothesis or "",
        reference_transform=CER_TRANSFORM,
        hypothesis_transform=CER_TRANSFORM,
    )
    h, s, d, i = out.hits, out.substitutions, out.deletions, out.insertions
    return {"H": h, "S": s, "D": d, "I": i, "N": h + s + d}


def error_rate(counts: list[dict] | dict) -> float | None:
    """(S + D + I) / N of one utterance's counts or pooled over several; None when N is 0."""
    counts = [counts] if isinstance(counts, dict) else counts
    errors = sum(c["S"] + c["D"] + c["I"] for c in counts)
    total = sum(c["N"] for c in counts)
    return errors / total if total else None


def word_error_rate(reference: str, hypothesis: str) -> float | None:
    """WER of one utterance; None when the reference has no words."""
    return error_rate(word_counts(reference, hypothesis))


def char_error_rate(reference: str, hypothesis: str) -> float | None:
    """CER of one utterance; None when the reference has no characters."""
    return error_rate(char_counts(reference, hypothesis))


def corpus_wer(references: list[str], hypotheses: list[str]) -> float | None:
    """WER pooled over utterances (total errors over total reference words)."""
    pairs = zip(references, hypotheses, strict=True)
    return error_rate([word_counts(r, h) for r, h in pairs])
