"""The job layer (webapp.jobs.kinds): params checked and normalised once, every bad key or value
named, the kinds' models and file roles, and bounds that the pages read from the same models."""

import subprocess
import sys

import pytest

from modelzoo.errors import InvalidParamsError
from tests.conftest import ROOT
from webapp.demo import blocks
from webapp.jobs import kinds


def test_the_job_layer_imports_neither_django_nor_torch():
    code = "import sys, webapp.jobs.kinds; print('django' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_transcribe_defaults_and_values():
    expected = {"decoder": "greedy", "beam_size": 10, "ctc_weight": 0.1}
    assert kinds.parse_params("transcribe", {}) == expected
    parsed = kinds.parse_params(
        "transcribe", '{"decoder": "beam", "beam_size": 40, "ctc_weight": 0}'
    )
    assert parsed == {"decoder": "beam", "beam_size": 40, "ctc_weight": 0}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"decoder": "viterbi"}, "'decoder' must be one of 'greedy' or 'beam'"),
        ({"beam_size": 0}, "'beam_size' must be an integer from 1 to 64"),
        ({"beam_size": 65}, "'beam_size' must be an integer from 1 to 64"),
        ({"beam_size": 2.5}, "'beam_size'"),
        ({"beam_size": True}, "'beam_size'"),
        ({"ctc_weight": 1.5}, "'ctc_weight' must be a number from 0.0 to 1.0"),
        ({"ctc_weight": "0.1"}, "'ctc_weight'"),
        ({"beam": 4}, "unknown key 'beam' for transcribe"),
        ("[1, 2]", "JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_transcribe_bad_params_are_named(params, named):
    with pytest.raises(InvalidParamsError, match=named):
        kinds.parse_params("transcribe", params)


def test_generate_values_are_normalised():
    assert kinds.parse_params("generate", None) == {"voice": "en-us", "batch_size": 16}
    parsed = kinds.parse_params(
        "generate", {"text": "  bin blue  ", "voice": "en-us+f3", "batch_size": 8}
    )
    assert parsed == {"text": "bin blue", "voice": "en-us+f3", "batch_size": 8}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"text": "   "}, "'text' must be a non-empty string"),
        ({"text": 5}, "'text'"),
        ({"text": "a" * 1001}, "'text' is longer than 1000 characters"),
        ({"voice": "../../etc/passwd"}, "'voice'"),
        ({"voice": "--help"}, "'voice'"),  # would read as an espeak-ng option
        ({"batch_size": 0}, "'batch_size' must be an integer from 1 to 256"),
        ({"seed": 1}, "unknown key 'seed'"),
    ],
)
def test_generate_bad_params_are_named(params, named):
    with pytest.raises(InvalidParamsError, match=named):
        kinds.parse_params("generate", params)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "'corpus' is missing"),
        ({"corpus": "../etc"}, "'corpus' must name a corpus folder"),
        ({"corpus": "tiny", "split": "dev"}, "'split' must be one of"),
        ({"corpus": "tiny", "limit": 501}, "'limit' must be an integer from 1 to 500"),
        ({"corpus": "tiny", "syncnet": "alm-demo"}, "'syncnet' must be a zoo SyncNet id"),
    ],
)
def test_evaluate_bad_params_are_named(params, named):
    with pytest.raises(InvalidParamsError, match=named):
        kinds.parse_params("evaluate", params)


def test_corrupt_params_are_the_public_schema_in_canonical_form():
    parsed = kinds.parse_params("corrupt", '{"video": {"kind": "blur"}}')
    assert parsed == {"seed": 0, "video": {"kind": "blur", "fraction": 0.3}}
    with pytest.raises(InvalidParamsError, match="audio.snr_db"):
        kinds.parse_params("corrupt", {"audio": {"noise": "white", "snr_db": 41}})


def test_an_unknown_kind_is_named_with_the_known_ones():
    with pytest.raises(InvalidParamsError, match="unknown job kind 'train': one of generate"):
        kinds.parse_params("train", {})


def test_each_kind_lists_the_zoo_models_of_its_architectures():
    generate = {e.id for e in kinds.models_for_kind("generate")}
    transcribe = {e.id for e in kinds.models_for_kind("transcribe")}
    assert generate == {"alm-lrw", "cals-lrs2", "alm-demo", "cals-demo"}
    baselines = {"avsr-av-demo", "avsr-audio-demo", "avsr-video-demo"}
    assert transcribe == {"avrelscore-lrs2", "avrelscore-lrs3", "avrelscore-demo", *baselines}
    assert kinds.models_for_kind("corrupt") == []


@pytest.mark.parametrize(
    ("kind", "roles", "accepted"),
    [
        ("generate", {"image", "audio"}, True),
        ("generate", {"video"}, True),
        ("generate", {"video", "image"}, False),
        ("generate", {"audio"}, False),
        ("transcribe", {"audio"}, True),
        ("transcribe", {"video", "audio"}, False),
        ("corrupt", {"image"}, False),
        ("evaluate", set(), True),
        ("evaluate", {"video"}, False),
    ],
)
def test_file_roles_of_each_kind(kind, roles, accepted):
    assert (frozenset(roles) in kinds.KINDS[kind].file_roles) is accepted


def test_the_pages_offer_the_ranges_the_params_accept():
    assert blocks.BEAM_SIZES == (1, 64)
    assert blocks.MAX_TEXT_CHARS == 1000
    assert blocks.SNR_DB == (-20.0, 40.0)
    assert blocks.AUDIO_NOISES == ["none", "white", "pink", "babble"]
    assert blocks.VIDEO_CORRUPTIONS == ["none", "occlusion", "gaussian", "blur"]
    # the ends of each range pass the check, and one step past them does not
    for beam in blocks.BEAM_SIZES:
        kinds.parse_params("transcribe", {"beam_size": beam})
    with pytest.raises(InvalidParamsError):
        kinds.parse_params("transcribe", {"beam_size": blocks.BEAM_SIZES[1] + 1})
    kinds.parse_params("generate", {"text": "a" * blocks.MAX_TEXT_CHARS})
    for snr in blocks.SNR_DB:
        kinds.parse_params("corrupt", {"audio": {"noise": "white", "snr_db": snr}})
    with pytest.raises(InvalidParamsError):
        kinds.parse_params("corrupt", {"audio": {"noise": "white", "snr_db": blocks.SNR_DB[1] + 1}})
    for choice in (*blocks.AUDIO_NOISES[1:], *blocks.VIDEO_CORRUPTIONS[1:]):
        part = "audio" if choice in blocks.AUDIO_NOISES else "video"
        key = "noise" if part == "audio" else "kind"
        kinds.parse_params("corrupt", {part: {key: choice}})


def test_the_job_rows_kinds_are_the_job_layers_with_no_migration_pending():
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    from webapp.jobs.models import Job

    assert Job.Kind.values == list(kinds.KINDS)
    assert Job.Kind.EVALUATE == "evaluate"
    migrations = MigrationLoader(None, ignore_no_migrations=True)
    pending = MigrationAutodetector(
        migrations.project_state(), ProjectState.from_apps(apps)
    ).changes(graph=migrations.graph)
    assert "jobs" not in pending, pending
