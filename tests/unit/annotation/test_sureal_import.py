"""Sureal data set files the tests write (paths built from names, repeated and missing votes)
import as sureal reads them; MOS and both CI conventions; BT.500 screening in both readings."""

import math

import numpy as np
import pytest
from scipy import stats

from annotation import analysis, errors, imports, qc, services
from annotation.models import Response, Session

CONTENTS = ["BigBuckBunny", "Tennis", "Market"]
CONDITIONS = ["crf22", "crf30", "crf38"]
SUBJECTS = ["ann", "bob", "cy", "dee", "eve", "fay"]


def sureal_file(votes, *, dict_os=True) -> str:
    """A sureal data set whose paths are computed from names defined in the file.

    `votes[(content, condition)]` lists one entry per subject: a number, a list of repeated
    votes, or None (no vote)."""

    def os_literal(entries):
        if dict_os:  # a missing vote: the subject is left out
            items = [
                f"{s!r}: {v!r}" for s, v in zip(SUBJECTS, entries, strict=True) if v is not None
            ]
            return "{" + ", ".join(items) + "}"
        return "[" + ", ".join("float('nan')" if v is None else repr(v) for v in entries) + "]"

    lines = [
        "import os",
        "dataset_name = 'generated'",
        "yuv_fmt = 'yuv420p'",
        "root = '/data/sets'",
        "ref_dir = root + '/ref'",
        "dis_dir = os.path.join(root, 'dis')",
        "ref_videos = [",
    ]
    for cid, content in enumerate(CONTENTS):
        lines.append(
            f"    {{'content_id': {cid}, 'content_name': {content!r}, "
            f"'path': ref_dir + '/{content}.yuv'}},"
        )
    lines += ["]", "dis_videos = ["]
    asset = 0
    for cid, content in enumerate(CONTENTS):
        for condition in CONDITIONS:
            lines.append(
                f"    {{'content_id': {cid}, 'asset_id': {asset}, "
                f"'os': {os_literal(votes[(content, condition)])}, "
                f"'path': os.path.join(dis_dir, f'{content}_{condition}.yuv')}},"
            )
            asset += 1
    lines.append("]")
    return "\n".join(lines) + "\n"


def generated_votes(seed=3):
    """Votes 1..5 per subject, with some repeated (two or three votes) and some missing."""
    rng = np.random.default_rng(seed)

    def draw(level):
        return int(np.clip(round(5 - level + rng.normal(0, 0.8)), 1, 5))

    votes = {}
    for content in CONTENTS:
        for level, condition in enumerate(CONDITIONS):
            entries = []
            for _ in SUBJECTS:
                kind = rng.integers(0, 6)
                repeated = [draw(level), draw(level)]
                entries.append(None if kind == 0 else repeated if kind == 1 else draw(level))
            votes[(content, condition)] = entries
    return votes


def plain_votes(entries) -> list[float]:
    flat = []
    for v in entries:
        if v is not None:
            flat += v if isinstance(v, list) else [v]
    return [float(x) for x in flat]


@pytest.fixture
def study(db):
    return services.study_create(
        slug="imported", title="Imported", questions=[{"key": "quality", "prompt": "Quality?"}]
    )


@pytest.mark.parametrize("dict_os", [True, False])
def test_generated_sureal_file_imports_with_repeats_and_missing_votes(study, dict_os):
    votes = generated_votes()
    text = sureal_file(votes, dict_os=dict_os)
    created = imports.import_sureal(study=study, text=text, question_key="quality")
    assert created == sum(len(plain_votes(e)) for e in votes.values())
    assert Response.objects.filter(repeat=1).count() == sum(
        isinstance(v, list) for e in votes.values() for v in e
    )
    # System and condition come from the file: one system per condition, contents as utterances.
    assert set(study.stimuli.values_list("system", flat=True)) == set(CONDITIONS)
    assert set(study.stimuli.values_list("utterance_id", flat=True)) == set(CONTENTS)


def test_mos_is_a_plain_mean_and_the_ci_matches_both_conventions(study):
    votes = generated_votes()
    imports.import_sureal(
        study=study, text=sureal_file(votes), question_key="quality", run_qc=False
    )
    by_condition = {
        c: sum((plain_votes(votes[(content, c)]) for content in CONTENTS), []) for c in CONDITIONS
    }
    table = {row["system"]: row for row in analysis.mos_table(study)}
    for condition, values in by_condition.items():
        row, n, sd = table[condition], len(values), np.std(values, ddof=1)
        assert row["n"] == n
        assert row["mean"] == pytest.approx(sum(values) / n, abs=1e-12)
        assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))
        # sureal's MosModel: 1.95996 * std(ddof=1) / sqrt(N); the P.808 toolkit: 1.96.
        assert row["ci95_z"] == pytest.approx(1.95996 * sd / math.sqrt(n), rel=1e-5)
        assert row["ci95"] > row["ci95_z"]
    results = analysis.study_results(study)
    assert results["ci_convention"] == "t" and "P.1401" in results["ci_convention_text"]
    assert "no BT.500" in results["screening"]
    # Conditions share contents, so the paired tests run on imported data.
    assert len(results["pairwise"]) == 3


def test_per_stimulus_mos_equals_the_mean_of_its_votes_repeats_included(study):
    votes = generated_votes(seed=8)
    imports.import_sureal(study=study, text=sureal_file(votes), question_key="quality")
    for (content, condition), entries in votes.items():
        stored = Response.objects.filter(
            stimulus__utterance_id=content, stimulus__system=condition
        ).values_list("value", flat=True)
        assert sorted(stored) == sorted(plain_votes(entries))


def test_vote_outside_the_scale_is_refused_with_a_message(admin_client, study):
    votes = generated_votes()
    votes[("Tennis", "crf30")][2] = 86
    response = admin_client.post(
        "/study/api/studies/imported/import/sureal.py?question=quality",
        sureal_file(votes),
        content_type="text/x-python",
    )
    assert response.status_code == 400
    assert "86 is outside the question's scale 1-5" in response.json()["error"]
    assert not Response.objects.exists()


def test_repeated_votes_through_the_api_are_stored_not_a_500(admin_client, study):
    response = admin_client.post(
        "/study/api/studies/imported/import/sureal.py?question=quality",
        sureal_file(generated_votes()),
        content_type="text/x-python",
    )
    assert response.status_code == 201, response.content


def test_a_name_used_before_it_is_assigned_is_refused(study):
    text = "dis_videos = [{'content_id': 0, 'asset_id': 0, 'os': [1], 'path': later}]\n"
    with pytest.raises(errors.AnnotationError, match="'later' is used before"):
        imports.import_sureal(study=study, text=text, question_key="quality")


def test_imported_sessions_go_through_qc(study):
    votes = generated_votes()
    for entries in votes.values():
        entries[0] = 3  # ann gives every clip a 3
    imports.import_sureal(study=study, text=sureal_file(votes), question_key="quality")
    ann = Session.objects.get(rater__external_id="ann")
    assert ann.qc_verdict == "exclude"
    assert ann.qc_reasons[0]["check"] == "min_variance"
    assert Session.objects.filter(qc_verdict="pending").count() == 0


# BT.500 screening: the two readings differ in three places; each case below differs in one.


def votes_of(table):
    """{(subject, clip, 'q'): value} from {clip: {subject: value}}."""
    return {(s, clip, "q"): v for clip, row in table.items() for s, v in row.items()}


def test_bt500_population_sd_against_sample_sd():
    # Clip c1: 2 2 3 3 3 5, mean 3; deviations -1 -1 0 0 0 2, so m2 = 6/6 = 1, m4 = 18/6 = 3 and
    # b2 = 3 (normal: the 2 SD rule). Population SD 1: y's 5 >= 3 + 2 * 1 counts as high.
    # Sample SD sqrt(6/5) = 1.095: 3 + 2.19 = 5.19, so y's 5 is not high. Clip c2 mirrors c1
    # (6 - vote): y's 1 is low with the population SD only. Complete design, no unanimous clip.
    c1 = {"o1": 2, "o2": 2, "o3": 3, "o4": 3, "o5": 3, "y": 5}
    votes = votes_of({"c1": c1, "c2": {s: 6 - v for s, v in c1.items()}})
    assert qc.bt500_rejections(votes, "as_written") == {}
    # sureal: P = Q = 1 over 2 clips: 1.0 > 0.05 and |1 - 1| / 2 = 0 < 0.3.
    assert qc.bt500_rejections(votes, "sureal") == {"y": (1, 1, 2)}


def test_bt500_unanimous_clip():
    # Clip same: a, b and c all vote 3 (SD 0, b2 undefined); d did not see it. Clip x: 1 2 4 5,
    # b2 = (34 / 4) / 2.5^2 = 1.36, so the sqrt(20) SD rule: nobody is far out.
    votes = votes_of({"same": {"a": 3, "b": 3, "c": 3}, "x": {"a": 1, "b": 2, "c": 4, "d": 5}})
    # As written the unanimous clip tells nothing about anyone.
    assert qc.bt500_rejections(votes, "as_written") == {}
    # sureal compares 3 >= 3 + k * 0 and 3 <= 3 - k * 0: every vote is both high and low, so a,
    # b and c each have P = Q = 1 over 2 clips; d has none, so not everybody is rejected.
    assert qc.bt500_rejections(votes, "sureal") == {s: (1, 1, 2) for s in "abc"}


def test_bt500_denominator_of_an_incomplete_design():
    # Ten raters see 50 clips; x sees only c0 and c1. On c0 the ten vote 2 2 3 3 3 3 3 3 4 4 and
    # x votes 5 (b2 = 2.97, the 2 SD rule; mean 3.18, SD 0.87 -> x is high either way); c1
    # mirrors it, x low. The 48 others are 1 2 3 4 5 1 2 3 4 5 (b2 1.7, nobody far out).
    base = [2, 2, 3, 3, 3, 3, 3, 3, 4, 4]
    table = {"c0": {f"r{i}": v for i, v in enumerate(base)} | {"x": 5}}
    table["c1"] = {s: 6 - v for s, v in table["c0"].items()}
    for clip in range(2, 50):
        table[f"c{clip}"] = {f"r{i}": 1 + (i + clip) % 5 for i in range(10)}
    votes = votes_of(table)
    # As written: P + Q = 2 of x's own 2 votes.
    assert qc.bt500_rejections(votes, "as_written") == {"x": (1, 1, 2)}
    # sureal: 2 of 50 clips x 1 repetition = 0.04, not above 0.05.
    assert qc.bt500_rejections(votes, "sureal") == {}


def test_bt500_repeated_votes_count_each_repetition():
    # sureal's denominator is clips x the most repetitions; each repeated vote counts.
    c1 = {"o1": 2, "o2": 2, "o3": 3, "o4": 3, "o5": 3, "y": 5}
    votes = votes_of({"c1": c1, "c2": {s: 6 - v for s, v in c1.items()}})
    votes[("o3", "c1", "q")] = [3, 3]  # o3 voted twice on c1
    rejected = qc.bt500_rejections(votes, "sureal")
    assert rejected["y"][2] == 4  # 2 clips x 2 repetitions


def test_study_names_its_bt500_reading(study):
    study.qc_config = {"bt500": {"mode": "sureal"}}
    study.save()
    assert "as Netflix sureal codes it" in analysis.study_results(study)["screening"]
