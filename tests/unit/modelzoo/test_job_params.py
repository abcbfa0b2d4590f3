"""Transcribe and generate params: defaults filled in, every bad key or value named."""

import pytest

from modelzoo.errors import InvalidParamsError
from modelzoo.job_params import parse_generate_params, parse_transcribe_params


def test_transcribe_defaults_and_values():
    assert parse_transcribe_params({}) == {"decoder": "greedy", "beam_size": 10, "ctc_weight": 0.1}
    parsed = parse_transcribe_params('{"decoder": "beam", "beam_size": 40, "ctc_weight": 0.3}')
    assert parsed == {"decoder": "beam", "beam_size": 40, "ctc_weight": 0.3}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"decoder": "viterbi"}, "'decoder'"),
        ({"beam_size": 0}, "'beam_size'"),
        ({"beam_size": 65}, "'beam_size'"),
        ({"beam_size": 2.5}, "'beam_size'"),
        ({"beam_size": True}, "'beam_size'"),
        ({"ctc_weight": 1.5}, "'ctc_weight'"),
        ({"ctc_weight": "0.1"}, "'ctc_weight'"),
        ({"beam": 4}, "unknown key 'beam'"),
        ("[1, 2]", "JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_transcribe_bad_params_are_named(params, named):
    with pytest.raises(InvalidParamsError, match=named):
        parse_transcribe_params(params)


def test_generate_values():
    assert parse_generate_params(None) == {}
    parsed = parse_generate_params({"text": "  bin blue  ", "voice": "en-us+f3", "batch_size": 8})
    assert parsed == {"text": "bin blue", "voice": "en-us+f3", "batch_size": 8}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"text": "   "}, "'text'"),
        ({"text": 5}, "'text'"),
        ({"text": "a" * 1001}, "longer than 1000"),
        ({"voice": "../../etc/passwd"}, "'voice'"),
        ({"voice": "--help"}, "'voice'"),  # would read as an espeak-ng option
        ({"batch_size": 0}, "'batch_size'"),
        ({"seed": 1}, "unknown key 'seed'"),
    ],
)
def test_generate_bad_params_are_named(params, named):
    with pytest.raises(InvalidParamsError, match=named):
        parse_generate_params(params)
