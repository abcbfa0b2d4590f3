"""Exports read back through the imports; per-stimulus and per-rater files carry their columns."""

import csv
import io
import json

import pytest

from annotation import analysis, errors, exports, imports, services

from .factories import grid, load_votes

ROWS = [
    ("r1", "a", "u0", "realness", 4),
    ("r1", "b", "u1", "realness", 2),
    ("r2", "a", "u0", "realness", 5),
    ("r2", "b", "u1", "realness", 1),
    ("r3", "a", "u0", "realness", 3),
    ("r3", "b", "u1", "realness", 2),
]


@pytest.fixture
def rated(acr_study):
    grid(acr_study, ["a", "b"], ["u0", "u1"])
    load_votes(acr_study, ROWS, verdicts={"r3": "reject"})
    return acr_study


def other_study(slug):
    return services.study_create(
        slug=slug,
        title=slug,
        questions=[{"key": "realness", "prompt": "Real?"}, {"key": "lipsync", "prompt": "Sync?"}],
    )


def test_long_csv_round_trips_through_the_import(rated):
    text = exports.long_csv(rated)
    copy = other_study("copy")
    assert imports.import_long_csv(study=copy, text=text) == len(ROWS)
    assert analysis.mos_table(copy) == analysis.mos_table(rated)


def test_importing_the_same_long_csv_twice_adds_nothing(rated):
    copy = other_study("copy")
    imports.import_long_csv(study=copy, text=exports.long_csv(rated))
    assert imports.import_long_csv(study=copy, text=exports.long_csv(rated)) == 0


def test_long_csv_without_a_rater_column_is_refused(db):
    with pytest.raises(errors.AnnotationError, match="rater"):
        imports.import_long_csv(study=other_study("x"), text="system,utterance_id,question\n")


def test_sureal_dataset_round_trips(rated):
    text = exports.sureal_dataset(rated, "realness")
    copy = other_study("copy")
    imports.import_sureal(study=copy, text=text, question_key="realness")
    assert analysis.mos_table(copy) == analysis.mos_table(rated)


def test_sureal_file_with_code_is_refused(db):
    text = "import os\ndis_videos = [dict(os=os.system('true'))]\n"
    with pytest.raises(errors.AnnotationError, match="not executed"):
        imports.import_sureal(study=other_study("x"), text=text, question_key="realness")


def test_sureal_list_scores_become_numbered_subjects(db):
    study = other_study("x")
    text = (
        "ref_videos = [{'content_id': 0, 'content_name': 'c0', 'path': 'c0'}]\n"
        "dis_videos = [{'content_id': 0, 'asset_id': 1, 'os': [5, 4, 3], 'path': 'x'}]\n"
    )
    assert imports.import_sureal(study=study, text=text, question_key="realness") == 3
    (row,) = analysis.mos_table(study)
    # The condition is the file name of the asset's path ('x'), shared across contents.
    assert (row["system"], row["n"], row["mean"]) == ("x", 3, 4.0)


def test_stimuli_csv_has_p808_columns_and_used_votes_only(rated):
    rows = list(csv.DictReader(io.StringIO(exports.stimuli_csv(rated))))
    first = next(r for r in rows if r["system"] == "a")
    assert (first["n"], float(first["MOS"])) == ("2", 4.5)
    assert {"std", "95%CI", "vote_1", "vote_2"} <= set(first)


def test_raters_csv_lists_reject_decisions_with_reasons(rated):
    session = rated.sessions.get(rater__external_id="r3")
    session.qc_reasons = [{"check": "trap", "action": "reject", "detail": "trap answered 3"}]
    session.save()
    rows = {r["rater"]: r for r in csv.DictReader(io.StringIO(exports.raters_csv(rated)))}
    assert rows["r1"]["decision"] == "approve"
    assert rows["r3"]["decision"] == "reject"
    assert "trap answered 3" in rows["r3"]["qc_reasons"]


def test_full_json_holds_design_responses_and_results(rated):
    doc = json.loads(exports.full_json(rated))
    assert len(doc["responses"]) == len(ROWS)
    assert {q["key"] for q in doc["questions"]} == {"realness", "lipsync"}
    assert doc["results"]["mos"]
