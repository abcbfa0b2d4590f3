"""Study metrics recomputed from the responses: MOS and CIs, pairwise tests, agreement, lip reading.

Methods after annotation-research.md §4, §5 and §7:
- MOS with a t-based 95% CI over the votes (ITU-T P.1401: t, not 1.96, for small n), and the
  CrowdMOS CI (Ribeiro et al., ICASSP 2011), whose model z_ij = mu + rater_i + stimulus_j + e_ij
  counts rater and stimulus variance; variance components by the method of moments (ddof 1).
- Pairwise tests between systems: paired t-test on per-utterance means, Holm-adjusted per question.
- Krippendorff's alpha (ordinal) per question with the `krippendorff` package.
- Lip reading: hits/substitutions/deletions/insertions per response with jiwer under the fixed
  normalisation `NORMALISATION_VERSION`; WER and word accuracy (1 - WER) on pooled counts; relative
  word accuracy of each system to the real videos on the shared utterances, with a bootstrap CI
  (utterances resampled, then responses within each utterance); a ratio of pooled accuracies.
- Human beside machine: per system, the machine lip reader's word accuracy on the same clips
  (its readings pooled under the same normalisation; 1 - accuracy is evaluate's `lip_wer`) and
  Spearman's rank correlation of human with machine word accuracy over the systems
  (scipy.stats.spearmanr).
Only regular stimuli of used sessions (completed, QC verdict accept or pending) enter.
"""

from collections import defaultdict
from itertools import combinations

import krippendorff
import numpy as np
from django.db.models import Count
from scipy import stats

from . import qc, selectors
from .models import Question, Response, Session, Stimulus
from .transcripts import NORMALISATION_VERSION, word_counts

Z95 = float(stats.norm.ppf(0.975))  # 1.959964, sureal's 1.95996 and the toolkits' 1.96
CI_CONVENTIONS = {
    "t": "95% CI = t(0.975, n - 1) * SD / sqrt(n) (ITU-T P.1401)",
    "z": "95% CI = 1.96 * SD / sqrt(n) (the P.808/P.910 toolkits and sureal)",
}


def t_ci(values) -> dict:
    """n, mean, sample SD and the 95% CI half-widths of a list of votes: `ci95` with Student's
    t (n - 1 degrees of freedom), `ci95_z` with the normal 1.96 of P.808/P.910 and sureal."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None, "ci95_z": None}
    sd = float(x.std(ddof=1)) if n > 1 else None
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else None
    half_z = Z95 * sd / np.sqrt(n) if n > 1 else None
    return {"n": n, "mean": float(x.mean()), "sd": sd, "ci95": half, "ci95_z": half_z}


def _mean_within_variance(matrix: np.ndarray) -> float:
    """Mean over rows of each row's sample variance, over rows with at least two values."""
    variances = [np.nanvar(row, ddof=1) for row in matrix if np.sum(~np.isnan(row)) >= 2]
    return float(np.mean(variances)) if variances else float("nan")


def crowdmos_ci(matrix) -> float | None:
    """CrowdMOS 95% CI half-width of the mean of a raters x stimuli matrix (NaN = no vote)."""
    z = np.asarray(matrix, dtype=float)
    observed = ~np.isnan(z)
    total = int(observed.sum())
    if total < 2:
        return None
    per_rater, per_stimulus = observed.sum(axis=1), observed.sum(axis=0)
    v_all = float(np.nanvar(z, ddof=1))  # rater + stimulus + noise
    v_su = _mean_within_variance(z)  # within a rater: stimulus + noise
    v_wu = _mean_within_variance(z.T)  # within a stimulus: rater + noise
    rater_term = float(np.sum(per_rater**2)) / total**2
    stimulus_term = float(np.sum(per_stimulus**2)) / total**2
    if np.isnan(v_su) and np.isnan(v_wu):
        v_mu = v_all / total
    elif np.isnan(v_wu):  # no stimulus rated twice: rater and noise cannot be told apart
        v_mu = max(v_all - v_su, 0.0) * rater_term + max(v_su, 0.0) / total
    elif np.isnan(v_su):  # no rater rated twice
        v_mu = max(v_all - v_wu, 0.0) * stimulus_term + max(v_wu, 0.0) / total
    else:
        v_s, v_w = max(v_all - v_wu, 0.0), max(v_all - v_su, 0.0)
        v_u = max(v_su + v_wu - v_all, 0.0)
        v_mu = v_s * stimulus_term + v_w * rater_term + v_u / total
    n_raters, n_stimuli = int((per_rater > 0).sum()), int((per_stimulus > 0).sum())
    df = max(min(n_raters, n_stimuli) - 1, 1)
    return float(stats.t.ppf(0.975, df) * np.sqrt(v_mu))


def alpha_ordinal(matrix, domain) -> float | None:
    """Krippendorff's alpha, ordinal, of a raters x units matrix; None when it is undefined."""
    try:
        value = krippendorff.alpha(
            reliability_data=np.asarray(matrix, dtype=float),
            level_of_measurement="ordinal",
            value_domain=list(domain),
        )
    except (ValueError, ZeroDivisionError):
        return None
    return None if np.isnan(value) else float(value)


def accuracy(counts) -> float | None:
    """Word accuracy 1 - WER = (N - S - D - I) / N of pooled counts."""
    n = sum(c["N"] for c in counts)
    errors = sum(c["S"] + c["D"] + c["I"] for c in counts)
    return (n - errors) / n if n else None


def _resampled_sums(rows: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """(n_boot, 2) sums of [N, errors] over responses drawn with replacement from `rows`."""
    picks = rng.integers(0, len(rows), size=(n_boot, len(rows)))
    return rows[picks].sum(axis=1)


def _accuracy_ratio(sys_sums: np.ndarray, real_sums: np.ndarray) -> np.ndarray:
    """Acc(system) / Acc(real) from pooled [N, errors] sums (last axis)."""
    sys_acc = 1 - sys_sums[..., 1] / sys_sums[..., 0]
    real_acc = 1 - real_sums[..., 1] / real_sums[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(real_acc != 0, sys_acc / real_acc, np.nan)


def relative_accuracy(records, system: str, real: str, n_boot: int = 2000, seed: int = 0):
    """Acc(system) / Acc(real) over the utterances both have, with a bootstrap 95% CI.

    `records` are (utterance, system, counts) per response. Each replicate draws utterances with
    replacement and, within each utterance, its responses with replacement (an utterance drawn
    twice in one replicate reuses its within-utterance draw). Returns (ratio, low, high) or Nones.
    """
    by_utt = defaultdict(lambda: defaultdict(list))
    for utterance, sys_name, counts in records:
        if sys_name in (system, real):
            by_utt[utterance][sys_name].append(
                (counts["N"], counts["S"] + counts["D"] + counts["I"])
            )
    shared = sorted(u for u, row in by_utt.items() if row[system] and row[real])
    if not shared:
        return None, None, None
    sys_rows = [np.array(by_utt[u][system], dtype=float) for u in shared]
    real_rows = [np.array(by_utt[u][real], dtype=float) for u in shared]
    point = _accuracy_ratio(
        sum(r.sum(axis=0) for r in sys_rows), sum(r.sum(axis=0) for r in real_rows)
    )
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(shared), [1 / len(shared)] * len(shared), size=n_boot)
    sys_sums = sum(
        w[:, None] * _resampled_sums(r, n_boot, rng)
        for w, r in zip(weights.T, sys_rows, strict=True)
    )
    real_sums = sum(
        w[:, None] * _resampled_sums(r, n_boot, rng)
        for w, r in zip(weights.T, real_rows, strict=True)
    )
    low, high = np.nanpercentile(_accuracy_ratio(sys_sums, real_sums), [2.5, 97.5])
    return float(point), float(low), float(high)


def used_responses(study):
    """Responses that enter the metrics: regular stimuli, used sessions."""
    return Response.objects.filter(
        session__study=study,
        session__status=Session.Status.COMPLETED,
        session__qc_verdict__in=[Session.Verdict.ACCEPT, Session.Verdict.PENDING],
        stimulus__role=Stimulus.Role.REGULAR,
    ).select_related("stimulus", "question", "session")


def _scale_votes(study):
    votes = defaultdict(list)  # question key -> [(rater session, stimulus, system, utterance, v)]
    for r in used_responses(study).filter(question__kind=Question.Kind.SCALE):
        st = r.stimulus  # a rating, never an A/B choice (also stored as a value)
        votes[r.question.key].append((r.session_id, st.pk, st.system, st.utterance_id, r.value))
    return votes


def _matrix(rows, row_key, col_key):
    """A rows x columns matrix of votes, NaN where none; a rater's repeated votes on one clip
    (imported data sets) enter as their mean."""
    cells = defaultdict(list)
    for r in rows:
        cells[(row_key(r), col_key(r))].append(r[4])
    row_ids = sorted({k[0] for k in cells}, key=str)
    col_ids = sorted({k[1] for k in cells}, key=str)
    ri, ci = {k: i for i, k in enumerate(row_ids)}, {k: i for i, k in enumerate(col_ids)}
    m = np.full((len(row_ids), len(col_ids)), np.nan)
    for (row, col), values in cells.items():
        m[ri[row], ci[col]] = np.mean(values)
    return m


def mos_table(study) -> list[dict]:
    """Per question and system: n, MOS, SD, t 95% CI, CrowdMOS 95% CI, raters and stimuli."""
    table = []
    for key, rows in sorted(_scale_votes(study).items()):
        by_system = defaultdict(list)
        for row in rows:
            by_system[row[2]].append(row)
        for system, sys_rows in sorted(by_system.items()):
            summary = t_ci([r[4] for r in sys_rows])
            matrix = _matrix(sys_rows, lambda r: r[0], lambda r: r[1])
            table.append(
                {
                    "question": key,
                    "system": system,
                    **summary,
                    "ci95_crowdmos": crowdmos_ci(matrix),
                    "raters": matrix.shape[0],
                    "stimuli": matrix.shape[1],
                }
            )
    return table


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    order = np.argsort(pvalues)
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[idx]))
        adjusted[idx] = running
    return adjusted


def _paired_t(xa, xb) -> tuple[float | None, float]:
    """(t, two-sided p) of a paired t-test; identical differences have no t (p 0, or 1 if all 0)."""
    diffs = np.subtract(xa, xb)
    if np.allclose(diffs, diffs[0]):
        return None, 1.0 if np.isclose(diffs[0], 0) else 0.0
    test = stats.ttest_rel(xa, xb)
    return float(test.statistic), float(test.pvalue)


def pairwise_tests(study) -> list[dict]:
    """Paired t-tests between systems on per-utterance MOS, Holm-adjusted within a question."""
    results = []
    for key, rows in sorted(_scale_votes(study).items()):
        means = defaultdict(lambda: defaultdict(list))
        for _, _, system, utterance, value in rows:
            means[system][utterance].append(value)
        tests = []
        for a, b in combinations(sorted(means), 2):
            shared = sorted(set(means[a]) & set(means[b]))
            if len(shared) < 2:
                continue
            xa = [np.mean(means[a][u]) for u in shared]
            xb = [np.mean(means[b][u]) for u in shared]
            t, p = _paired_t(xa, xb)
            diff = float(np.mean(xa) - np.mean(xb))
            tests.append(
                {
                    "question": key,
                    "a": a,
                    "b": b,
                    "utterances": len(shared),
                    "mean_diff": diff,
                    "t": t,
                    "p": p,
                }
            )
        for test, p_holm in zip(tests, holm([t["p"] for t in tests]), strict=True):
            test["p_holm"] = p_holm
        results += tests
    return results


def agreement(study) -> list[dict]:
    """Krippendorff's alpha (ordinal) per scale question over sessions x stimuli."""
    questions = {q.key: q for q in study.questions.filter(kind=Question.Kind.SCALE)}
    result = []
    for key, rows in sorted(_scale_votes(study).items()):
        q = questions[key]
        matrix = _matrix(rows, lambda r: r[0], lambda r: r[1])
        alpha = alpha_ordinal(matrix, range(q.scale_min, q.scale_max + 1))
        result.append({"question": key, "alpha_ordinal": alpha, "raters": matrix.shape[0]})
    return result


def lipreading_records(study) -> list[tuple]:
    """(utterance, system, is_real, counts) for every used transcript."""
    rows = used_responses(study).filter(question__kind=Question.Kind.TEXT)
    return [
        (
            r.stimulus.utterance_id,
            r.stimulus.system,
            r.stimulus.is_real,
            word_counts(r.stimulus.reference_text, r.transcript),
        )
        for r in rows
        if r.stimulus.reference_text.strip()
    ]


def lipreading_table(study, n_boot: int = 2000) -> list[dict]:
    """Per system: responses, pooled H/S/D/I/N, WER, word accuracy and relative accuracy (%)."""
    records = lipreading_records(study)
    real_systems = sorted({sys for _, sys, is_real, _ in records if is_real})
    real = real_systems[0] if real_systems else None
    plain = [(u, s, c) for u, s, _, c in records]
    table = []
    for system in sorted({s for _, s, _ in plain}):
        counts = [c for _, s, c in plain if s == system]
        pooled = {k: sum(c[k] for c in counts) for k in "HSDIN"}
        acc = accuracy(counts)
        row = {
            "system": system,
            "is_real": system == real,
            "responses": len(counts),
            **pooled,
            "wer": None if acc is None else 1 - acc,
            "word_accuracy": acc,
            "relative_pct": None,
            "relative_ci95": None,
        }
        if real is not None and system != real:
            ratio, low, high = relative_accuracy(plain, system, real, n_boot=n_boot)
            if ratio is not None:
                row["relative_pct"] = 100 * ratio
                row["relative_ci95"] = [100 * low, 100 * high]
        table.append(row)
    return table


def human_machine(study, human: list[dict]) -> dict:
    """Each system's human word accuracy (rows of `lipreading_table`) beside the machine lip
    reader's on the system's clips, and Spearman's rho (with its p) over the systems that have
    both; rho is None with fewer than three such systems or a constant side."""
    machine, errors, pending = defaultdict(list), 0, 0
    human_by_system = {row["system"]: row for row in human}
    clips = list(selectors.stimuli_to_lipread(study))
    for stimulus in clips:
        reading = stimulus.machine_reading
        if "text" in reading:
            machine[stimulus.system].append(word_counts(stimulus.reference_text, reading["text"]))
        elif "error" in reading:
            errors += 1
        else:
            pending += 1
    rows = []
    for system in sorted(human_by_system.keys() | {s.system for s in clips}):
        acc = accuracy(machine.get(system, []))
        row = human_by_system.get(system, {})
        rows.append(
            {
                "system": system,
                "is_real": row.get("is_real", False),
                "human_word_accuracy": row.get("word_accuracy"),
                "machine_word_accuracy": acc,
                "machine_wer": None if acc is None else 1 - acc,
                "machine_clips": len(machine.get(system, [])),
            }
        )
    paired = [
        (r["human_word_accuracy"], r["machine_word_accuracy"])
        for r in rows
        if r["human_word_accuracy"] is not None and r["machine_word_accuracy"] is not None
    ]
    rho = p = None
    if len(paired) >= 3 and all(len(set(side)) > 1 for side in zip(*paired, strict=True)):
        found = stats.spearmanr(*zip(*paired, strict=True))
        rho, p = float(found.statistic), float(found.pvalue)
    readers = sorted({s.machine_reading.get("reader", "") for s in clips} - {""})
    return {
        "rows": rows,
        "spearman_rho": rho,
        "spearman_p": p,
        "systems": len(paired),
        "readers": readers,
        "pending": pending,
        "errors": errors,
    }


def token_table(study) -> list[dict]:
    """Per problem-token question, system and token: how many answers ticked it, and the share."""
    counts = defaultdict(lambda: defaultdict(int))
    answers = defaultdict(int)
    for r in used_responses(study).filter(question__kind=Question.Kind.TOKENS):
        key = (r.question.key, r.stimulus.system)
        answers[key] += 1
        for token in r.tokens:
            counts[key][token] += 1
    tokens = {q.key: q.anchors for q in study.questions.filter(kind=Question.Kind.TOKENS)}
    return [
        {
            "question": question,
            "system": system,
            "token": token,
            "ticked": counts[(question, system)][token],
            "answers": n,
            "share": counts[(question, system)][token] / n,
        }
        for (question, system), n in sorted(answers.items())
        for token in tokens.get(question, [])
    ]


def preference_table(study) -> list[dict]:
    """Per A/B question and pair of systems: votes for each, share for the left-hand system of
    the sorted pair, and a two-sided exact binomial test against 50 %."""
    wins = defaultdict(lambda: [0, 0])
    for r in used_responses(study).filter(question__kind=Question.Kind.PREFERENCE):
        left, right = r.stimulus.system, r.stimulus.beside_system
        chosen = right if r.value == 1 else left
        a, b = sorted([left, right])
        wins[(r.question.key, a, b)][0 if chosen == a else 1] += 1
    rows = []
    for (question, a, b), (for_a, for_b) in sorted(wins.items()):
        n = for_a + for_b
        rows.append(
            {
                "question": question,
                "a": a,
                "b": b,
                "for_a": for_a,
                "for_b": for_b,
                "share_a": for_a / n,
                "p": float(stats.binomtest(for_a, n, 0.5).pvalue),
            }
        )
    return rows


def rater_table(study) -> list[dict]:
    """Per completed session: votes, minutes, median seconds per clip, r with the others' mean."""
    votes = {
        (r.session_id, r.stimulus_id, r.question.key): r.value
        for r in used_responses(study).filter(question__kind=Question.Kind.SCALE)
    }
    r_by_session = qc.loo_correlations(votes, min_common=3)
    times = defaultdict(list)
    for session_id, seconds in Response.objects.filter(
        session__study=study, time_on_item_s__isnull=False
    ).values_list("session_id", "time_on_item_s"):
        times[session_id].append(seconds)
    rows = []
    sessions = study.sessions.filter(status=Session.Status.COMPLETED).select_related("rater")
    for s in sessions.annotate(n_responses=Count("responses")):
        minutes = (s.finished_at - s.started_at).total_seconds() / 60 if s.started_at else None
        rows.append(
            {
                "rater": s.rater.external_id,
                "verdict": s.qc_verdict,
                "reasons": "; ".join(r["detail"] for r in s.qc_reasons),
                "minutes": minutes,
                "responses": s.n_responses,
                "median_s_per_clip": float(np.median(times[s.pk])) if times[s.pk] else None,
                "loo_r": r_by_session.get(s.pk),
            }
        )
    return rows


def study_results(study) -> dict:
    """Everything the dashboard and the JSON export show, computed afresh."""
    result = {
        "study": study.slug,
        "kind": study.kind,
        "normalisation": NORMALISATION_VERSION,
        # Every report says which interval it leads with and which raters it left out, and how.
        "ci_convention": study.ci_convention,
        "ci_convention_text": CI_CONVENTIONS[study.ci_convention],
        "screening": qc.screening_description(study),
    }
    kinds = set(study.questions.values_list("kind", flat=True))
    if Question.Kind.TEXT in kinds:
        result["lipreading"] = lipreading_table(study)
        if study.stimuli.filter(source_job__isnull=False).exists():
            result["human_machine"] = human_machine(study, result["lipreading"])
    if Question.Kind.SCALE in kinds:
        result["mos"] = mos_table(study)
        result["pairwise"] = pairwise_tests(study)
        result["agreement"] = agreement(study)
    if Question.Kind.TOKENS in kinds:
        result["tokens"] = token_table(study)
    if Question.Kind.PREFERENCE in kinds:
        result["preference"] = preference_table(study)
    return result
