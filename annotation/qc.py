"""Quality control of rater sessions: configurable checks whose failures are recorded with reasons.

Rules and default thresholds after annotation-research.md §2.3, §2.5 and §9.3 (microsoft/P.808 and
P.910 result parsers): clips not played to the end and failed trapping items (a given rating or,
for lip reading, the words an on-screen instruction asks for) reject a session (not paid, data
left out); gold answers off by more than a tolerance (scale points, or the word error
rate of a lip-reading transcript under `annotation.transcripts`), straight-lining (low variance),
sessions faster than the media itself and a low correlation with the leave-one-out mean exclude it
(paid, data left out). Excluded data are kept; `annotation.analysis` leaves them out.

A study overrides a check in `Study.qc_config`, e.g.
{"gold": {"tolerance": 0, "max_wer": 0.3}, "min_variance": null} (null switches a check off).
The ITU-R BT.500 observer screening runs only when named there, e.g. {"bt500": {}} (as the
standard is written) or {"bt500": {"mode": "sureal"}} (as Netflix sureal computes it).
"""

from collections import defaultdict

import numpy as np
from django.db import transaction
from scipy import stats

from .models import Question, Response, Session, Stimulus
from .transcripts import word_error_rate

DEFAULTS = {
    "played_to_end": {"min_share": 1.0, "action": "reject"},
    "trap": {"action": "reject"},
    # tolerance: scale points; max_wer: word error rate of a lip-reading transcript.
    "gold": {"tolerance": 1, "max_wer": 0.5, "action": "exclude"},
    "min_variance": {"threshold": 0.1, "action": "exclude"},
    "too_fast": {"min_share_of_media": 1.0, "action": "exclude"},
    "loo_correlation": {"threshold": 0.7, "min_common": 5, "action": "exclude"},
}
# Checks that run only when a study's qc_config names them.
OPTIONAL = {"bt500": {"action": "exclude", "mode": "as_written"}}
SEVERITY = {Session.Verdict.ACCEPT: 0, Session.Verdict.EXCLUDE: 1, Session.Verdict.REJECT: 2}


def checks_config(study) -> dict:
    config = {}
    for name, default in DEFAULTS.items():
        override = (study.qc_config or {}).get(name, {})
        config[name] = None if override is None else {**default, **override}
    for name, default in OPTIONAL.items():
        override = (study.qc_config or {}).get(name)
        config[name] = None if override is None else {**default, **override}
    return config


def _rows(responses) -> list[dict]:
    return [
        {
            "session": r.session_id,
            "stimulus": r.stimulus_id,
            "role": r.stimulus.role,
            "gold": r.stimulus.gold_answers,
            "duration": r.stimulus.duration_s,
            "question": r.question.key,
            "scale": r.question.kind == Question.Kind.SCALE,
            "text": r.question.kind == Question.Kind.TEXT,
            "value": r.value,
            "transcript": r.transcript,
            "reference": r.stimulus.reference_text,
            "played_to_end": r.played_to_end,
        }
        for r in responses
    ]


def _played_to_end(rows, cfg, session):
    items = {(r["stimulus"], r["played_to_end"]) for r in rows if r["role"] != "practice"}
    stimuli = {s for s, _ in items}
    played = {s for s, ok in items if ok}
    if stimuli and len(played) / len(stimuli) < cfg["min_share"]:
        return f"{len(stimuli) - len(played)} of {len(stimuli)} clips not played to the end"
    return None


def _expected_transcript(row) -> str:
    """A gold or trap clip's expected words: its gold answer, else its reference transcript."""
    return str(row["gold"].get(row["question"]) or row["reference"] or "")


def _answer_misses(rows, role, tolerance, max_wer):
    """Answers to `role` items off by more than `tolerance` points or `max_wer` word errors."""
    misses = []
    for r in rows:
        if r["role"] != role:
            continue
        if r["scale"]:
            expected = r["gold"].get(r["question"])
            if expected is not None and abs(r["value"] - float(expected)) > tolerance:
                misses.append(f"{r['question']} {r['value']:g} for {float(expected):g}")
            continue
        if not r["text"]:
            continue  # problem tokens and A/B choices have no right answer
        expected = _expected_transcript(r)
        wer = word_error_rate(expected, r["transcript"]) if expected else None
        if wer is not None and wer > max_wer:
            misses.append(f"{r['question']} {r['transcript']!r} for {expected!r} (WER {wer:.2f})")
    return misses


def _trap(rows, cfg, session):
    # A trap asks for exact words (on screen, or as a rating): any word error fails it.
    misses = _answer_misses(rows, Stimulus.Role.TRAP, 0, 0)
    return f"trapping item answered {', '.join(misses)}" if misses else None


def _gold(rows, cfg, session):
    misses = _answer_misses(rows, Stimulus.Role.GOLD, cfg["tolerance"], cfg["max_wer"])
    if misses:
        limits = f"{cfg['tolerance']:g} points or WER {cfg['max_wer']:g}"
        return f"gold answer off by more than {limits}: {', '.join(misses)}"
    return None


def _min_variance(rows, cfg, session):
    by_question = defaultdict(list)
    for r in rows:
        if r["role"] == Stimulus.Role.REGULAR and r["scale"]:
            by_question[r["question"]].append(r["value"])
    flat = [
        f"{key} variance {np.var(values, ddof=1):.3f}"
        for key, values in sorted(by_question.items())
        if len(values) >= 3 and np.var(values, ddof=1) < cfg["threshold"]
    ]
    return f"ratings barely vary ({', '.join(flat)})" if flat else None


def _too_fast(rows, cfg, session):
    if session.started_at is None or session.finished_at is None:
        return None
    durations = {r["stimulus"]: r["duration"] for r in rows if r["role"] != "practice"}
    media_s = sum(d for d in durations.values() if d)
    spent = (session.finished_at - session.started_at).total_seconds()
    if media_s and spent < cfg["min_share_of_media"] * media_s:
        return f"session took {spent:.0f} s for {media_s:.0f} s of video"
    return None


SESSION_CHECKS = {
    "played_to_end": _played_to_end,
    "trap": _trap,
    "gold": _gold,
    "min_variance": _min_variance,
    "too_fast": _too_fast,
}


def _verdict(reasons: list[dict]) -> str:
    worst = Session.Verdict.ACCEPT
    for reason in reasons:
        if SEVERITY[reason["action"]] > SEVERITY[worst]:
            worst = Session.Verdict(reason["action"])
    return str(worst)


def _session_reasons(session, rows, config) -> list[dict]:
    reasons = []
    for name, check in SESSION_CHECKS.items():
        cfg = config[name]
        detail = check(rows, cfg, session) if cfg is not None else None
        if detail:
            reasons.append({"check": name, "action": cfg["action"], "detail": detail})
    return reasons


def session_verdict(session) -> tuple[str, list[dict]]:
    """The verdict of one finished session from its own answers (no study-wide checks)."""
    responses = Response.objects.filter(session=session).select_related("stimulus", "question")
    reasons = _session_reasons(session, _rows(responses), checks_config(session.study))
    return _verdict(reasons), reasons


def loo_correlations(votes: dict, min_common: int) -> dict:
    """Pearson r of each session's votes with the mean of the other sessions' votes on them.

    `votes` maps (session, stimulus, question) to a value; sessions with fewer than `min_common`
    votes that others also gave, or with constant votes, get no r.
    """
    by_item = defaultdict(dict)
    for (session, stimulus, question), value in votes.items():
        by_item[(stimulus, question)][session] = value
    pairs = defaultdict(list)
    for item_votes in by_item.values():
        total, count = sum(item_votes.values()), len(item_votes)
        if count < 2:
            continue
        for session, value in item_votes.items():
            pairs[session].append((value, (total - value) / (count - 1)))
    result = {}
    for session, xy in pairs.items():
        x, y = np.array(xy).T
        if len(xy) >= min_common and x.std() > 0 and y.std() > 0:
            result[session] = float(np.corrcoef(x, y)[0, 1])
    return result


BT500_MODES = {
    "as_written": "ITU-R BT.500 as written: sample SD, unanimous clips skipped, P and Q over the "
    "observer's own votes",
    "sureal": "ITU-R BT.500 as Netflix sureal codes it: population SD, a unanimous clip counts "
    "every vote as both high and low, P and Q over all clips x repetitions",
}


def bt500_rejections(votes: dict, mode: str = "as_written") -> dict:
    """ITU-R BT.500 observer screening (the beta-2 kurtosis test) over incomplete crowd data.

    `votes` maps (session, stimulus, question) to a value or a list of repeated values. For each
    stimulus and question: mean, SD and kurtosis b2 of its votes; a vote counts high (P) or low
    (Q) at or beyond 2 SD when 2 <= b2 <= 4, else sqrt(20) SD. A session is rejected when
    (P + Q) / denominator > 0.05 and |P - Q| / (P + Q) < 0.3; when every session would be, none
    is. The two `mode`s (see BT500_MODES) differ in three places, all defensible readings:

    - SD: the standard's sample SD (N - 1), or sureal's population SD (N);
    - a clip every vote agrees on (SD 0, b2 undefined): skipped, or, as sureal's comparisons
      `>= mean + k * 0` do, counted as both high and low for every vote on it;
    - denominator: the session's own votes (an incomplete design rates a subset), or sureal's
      number of clips x the most repetitions, for every session.

    Returns the rejected sessions with their (P, Q, denominator).
    """
    if mode not in BT500_MODES:
        raise ValueError(f"unknown BT.500 mode {mode!r}; use one of {sorted(BT500_MODES)}")
    sureal = mode == "sureal"
    by_item = defaultdict(dict)
    for (session, stimulus, question), value in votes.items():
        by_item[(stimulus, question)][session] = np.atleast_1d(np.asarray(value, dtype=float))
    high, low, count = defaultdict(int), defaultdict(int), defaultdict(int)
    repetitions = 1
    for item_votes in by_item.values():
        values = np.concatenate(list(item_votes.values()))
        for session, own in item_votes.items():
            count[session] += len(own)
            repetitions = max(repetitions, len(own))
        if not sureal and (len(values) < 2 or values.std() == 0):
            continue
        mean, sd = values.mean(), values.std(ddof=0 if sureal else 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            b2 = stats.kurtosis(values, fisher=False) if values.std() > 0 else np.nan
        spread = 2 if 2 <= b2 <= 4 else np.sqrt(20)
        for session, own in item_votes.items():
            high[session] += int(np.sum(own >= mean + spread * sd))
            low[session] += int(np.sum(own <= mean - spread * sd))
    denominator = {s: len(by_item) * repetitions if sureal else count[s] for s in count}
    rejected = {
        s: (high[s], low[s], denominator[s])
        for s in count
        if high[s] + low[s]
        and (high[s] + low[s]) / denominator[s] > 0.05
        and abs(high[s] - low[s]) / (high[s] + low[s]) < 0.3
    }
    return {} if len(rejected) == len(count) else rejected


def screening_description(study) -> str:
    """The screening the study's reports rest on, in words."""
    config = checks_config(study)
    named = [name for name in DEFAULTS if config[name] is not None]
    text = "QC checks: " + ", ".join(named) if named else "no QC checks"
    if config["bt500"] is not None:
        text += "; observer screening: " + BT500_MODES[config["bt500"]["mode"]]
    else:
        text += "; no BT.500 observer screening"
    return text


def study_verdicts(study) -> dict:
    """Verdicts of every completed session: session checks, then the study-wide ones."""
    config = checks_config(study)
    sessions = {s.pk: s for s in study.sessions.filter(status=Session.Status.COMPLETED)}
    responses = Response.objects.filter(session__in=list(sessions)).select_related(
        "stimulus", "question"
    )
    rows_by_session = defaultdict(list)
    for row in _rows(responses):
        rows_by_session[row["session"]].append(row)
    reasons = {pk: _session_reasons(s, rows_by_session[pk], config) for pk, s in sessions.items()}
    cfg = config["loo_correlation"]
    if cfg is not None:
        votes = _used_scale_votes(rows_by_session, reasons)
        means = {key: float(np.mean(values)) for key, values in votes.items()}
        for pk, r in loo_correlations(means, cfg["min_common"]).items():
            if r < cfg["threshold"]:
                detail = f"r = {r:.2f} with the other raters' mean (below {cfg['threshold']:g})"
                reasons[pk].append(
                    {"check": "loo_correlation", "action": cfg["action"], "detail": detail}
                )
    cfg = config["bt500"]
    if cfg is not None:
        votes = _used_scale_votes(rows_by_session, reasons)
        for pk, (p, q, n) in bt500_rejections(votes, cfg["mode"]).items():
            detail = (
                f"BT.500 screening ({cfg['mode']}): {p} votes far above and {q} far below "
                f"the mean, over {n}"
            )
            reasons[pk].append({"check": "bt500", "action": cfg["action"], "detail": detail})
    return {pk: (_verdict(reasons[pk]), reasons[pk]) for pk in sessions}


def verdicts_rerun(*, study) -> int:
    """Recompute every completed session's verdict, adding the study-wide checks; count changes."""
    verdicts = study_verdicts(study)
    changed = 0
    with transaction.atomic():
        for session in Session.objects.filter(study=study, status=Session.Status.COMPLETED):
            verdict, reasons = verdicts[session.pk]
            if (verdict, reasons) != (session.qc_verdict, session.qc_reasons):
                session.qc_verdict, session.qc_reasons = verdict, reasons
                session.save(update_fields=["qc_verdict", "qc_reasons"])
                changed += 1
    return changed


def _used_scale_votes(rows_by_session, reasons) -> dict:
    """Regular scale votes (lists: repeated votes) of the sessions that pass every check so far."""
    votes = defaultdict(list)
    for pk, rows in rows_by_session.items():
        if _verdict(reasons[pk]) != Session.Verdict.ACCEPT:
            continue
        for r in rows:
            if r["role"] == Stimulus.Role.REGULAR and r["scale"]:
                votes[(r["session"], r["stimulus"], r["question"])].append(r["value"])
    return dict(votes)
