"""Parsing and validation of the public corruption parameters."""

import json

import pytest
from pydantic import ValidationError

from modelzoo.corruption.params import (
    AudioNoiseParams,
    CorruptionParams,
    VideoCorruptionParams,
    parse_corruption_params,
)
from modelzoo.errors import InvalidParamsError, UserError


def test_full_params_parse_into_frozen_models():
    raw = {
        "audio": {"noise": "pink", "snr_db": -5, "partial": True},
        "video": {"kind": "blur", "fraction": 0.5},
        "seed": 7,
    }
    params = parse_corruption_params(raw)
    assert params == CorruptionParams(
        audio=AudioNoiseParams(noise="pink", snr_db=-5.0, partial=True),
        video=VideoCorruptionParams(kind="blur", fraction=0.5),
        seed=7,
    )
    with pytest.raises(ValidationError, match="frozen"):
        params.seed = 3


def test_json_text_is_accepted_and_round_trips_through_as_json():
    params = parse_corruption_params('{"audio": {"noise": "babble", "snr_db": 10}}')
    assert params.audio == AudioNoiseParams(noise="babble", snr_db=10.0, partial=False)
    assert parse_corruption_params(json.dumps(params.as_json())) == params


def test_audio_only_params_need_audio_not_video():
    params = parse_corruption_params({"audio": {"noise": "white", "snr_db": 0}})
    assert (params.needs_audio, params.needs_video) == (True, False)


def test_video_only_params_need_video_not_audio():
    params = parse_corruption_params({"video": {"kind": "gaussian"}})
    assert (params.needs_audio, params.needs_video) == (False, True)
    assert params.video.fraction == 0.3


@pytest.mark.parametrize(
    "raw, words",
    [
        (None, ["params", "missing"]),
        ("", ["params", "missing"]),
        ("{not json", ["params", "JSON"]),
        ("[1, 2]", ["params", "object"]),
        ({}, ["both are absent"]),
        ({"seed": 1}, ["both are absent"]),
        ({"audio": None, "video": None}, ["both are absent"]),
        ({"audio": {"noise": "brown", "snr_db": 5}}, ["audio.noise", "white, pink, babble"]),
        ({"audio": {"snr_db": 5}}, ["audio.noise", "white, pink, babble"]),
        ({"audio": {"noise": "white", "snr_db": 41}}, ["audio.snr_db", "[-20, 40]"]),
        ({"audio": {"noise": "white", "snr_db": -20.5}}, ["audio.snr_db", "[-20, 40]"]),
        ({"audio": {"noise": "white", "snr_db": "5"}}, ["audio.snr_db", "number"]),
        ({"audio": {"noise": "white", "snr_db": True}}, ["audio.snr_db", "number"]),
        ({"audio": {"noise": "white", "snr_db": float("nan")}}, ["audio.snr_db", "number"]),
        ({"audio": {"noise": "white", "partial": "yes"}}, ["audio.partial", "true or false"]),
        ({"audio": "white"}, ["audio", "object"]),
        ({"video": {"kind": "pixelate"}}, ["video.kind", "occlusion, gaussian, blur"]),
        ({"video": {"kind": "blur", "fraction": 0}}, ["video.fraction", "(0, 1]"]),
        ({"video": {"kind": "blur", "fraction": 1.01}}, ["video.fraction", "(0, 1]"]),
        ({"video": {"kind": "blur"}, "seed": -1}, ["seed", "integer"]),
        ({"video": {"kind": "blur"}, "seed": 1.5}, ["seed", "integer"]),
        ({"video": {"kind": "blur"}, "colour": 1}, ["unknown key 'colour'"]),
        ({"audio": {"noise": "white", "snr": 5}}, ["audio", "unknown key 'snr'"]),
        ({"video": {"kind": "blur", "frac": 0.2}}, ["video", "unknown key 'frac'"]),
    ],
)
def test_bad_params_raise_an_error_naming_the_field(raw, words):
    with pytest.raises(InvalidParamsError) as info:
        parse_corruption_params(raw)
    assert isinstance(info.value, UserError)
    for word in words:
        assert word in str(info.value)


def test_fraction_of_one_and_snr_bounds_are_accepted():
    params = parse_corruption_params(
        {"audio": {"noise": "white", "snr_db": 40}, "video": {"kind": "gaussian", "fraction": 1}}
    )
    assert params.audio.snr_db == 40.0 and params.video.fraction == 1.0
