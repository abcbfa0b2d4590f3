"""WER and CER under the one normalisation, against jiwer and hand-worked counts."""

import jiwer
import pytest

from annotation import transcripts
from modelzoo.metrics import text


def test_model_and_human_transcripts_are_normalised_alike():
    # AV-RelScore writes upper case and "?"; a rater writes lower case with punctuation.
    model, human = "BIN BLUE AT F TWO NOW?", "bin blue, at f two now."
    assert text.word_error_rate(model, human) == 0.0


def test_wer_equals_jiwer_on_normalised_text_in_hand_worked_cases():
    # reference 6 words; "at" deleted, "two" -> "too", "please" inserted: (1 + 1 + 1) / 6
    reference, hypothesis = "Bin blue at F two now", "bin blue f too now please"
    assert text.word_error_rate(reference, hypothesis) == pytest.approx(3 / 6)
    assert text.word_error_rate(reference, hypothesis) == pytest.approx(
        jiwer.wer(reference.lower(), hypothesis)
    )
    counts = text.word_counts(reference, hypothesis)
    assert (counts["S"], counts["D"], counts["I"], counts["N"]) == (1, 1, 1, 6)


def test_cer_counts_characters_including_spaces():
    # "ab cd" (5 characters) against "ab d": one deletion of "c"
    assert text.char_error_rate("AB CD", "ab d") == pytest.approx(1 / 5)
    assert text.char_error_rate("ab cd", "ab d") == pytest.approx(jiwer.cer("ab cd", "ab d"))


def test_corpus_wer_pools_counts_rather_than_averaging_rates():
    # one error in a 1-word utterance, none in a 4-word one: 1 / 5, not (1 + 0) / 2
    assert text.corpus_wer(["a", "b c d e"], ["x", "b c d e"]) == pytest.approx(1 / 5)


def test_empty_reference_has_no_rate():
    assert text.word_error_rate("", "anything") is None


def test_annotation_uses_the_modelzoo_normalisation():
    assert transcripts.NORMALISATION_VERSION == text.NORMALISATION_VERSION == "synclab-wer-1"
    assert transcripts.word_error_rate is text.word_error_rate
