"""Study exports: long CSV, per-stimulus CSV, per-rater CSV (QC, approve/reject), JSON, sureal.

Column sets follow annotation-research.md §2.4 and §9.5: the per-stimulus file has P.808's
`n, MOS, std, 95%CI, vote_1..vote_k` (the CI in the study's convention, t or z, with both given
and the convention named); the sureal file is a Netflix/sureal
dataset (a Python file of literals: `ref_videos`, and `dis_videos` whose `os` maps rater to score),
one per question. The long CSV and the sureal file read back with `annotation.imports`.
"""

import csv
import io
import json
from collections import defaultdict

from django.db.models import Count

from . import analysis
from .models import Question, Response, Session, Stimulus

LONG_COLUMNS = [
    "study",
    "session",
    "rater",
    "platform",
    "block",
    "qc_verdict",
    "stimulus",
    "system",
    "utterance_id",
    "is_real",
    "role",
    "section",
    "reference_text",
    "question",
    "value",
    "transcript",
    "tokens",
    "repeat",
    "play_count",
    "played_to_end",
    "time_on_item_s",
    "position",
    "created_at",
]


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _fmt(value):
    return "" if value is None else round(value, 6) if isinstance(value, float) else value


def long_csv(study) -> str:
    """Every response of the study, one row each, excluded sessions included (see qc_verdict)."""
    responses = (
        Response.objects.filter(session__study=study)
        .select_related("session__rater", "stimulus", "question")
        .order_by("session__consented_at", "session_id", "position", "question__order")
    )
    rows = (
        [
            study.slug,
            r.session_id,
            r.session.rater.external_id,
            r.session.rater.platform,
            r.session.block,
            r.session.qc_verdict,
            r.stimulus_id,
            r.stimulus.system,
            r.stimulus.utterance_id,
            int(r.stimulus.is_real),
            r.stimulus.role,
            r.stimulus.section,
            r.stimulus.reference_text,
            r.question.key,
            _fmt(r.value),
            r.transcript,
            "; ".join(r.tokens),
            r.repeat,
            r.play_count,
            int(r.played_to_end),
            _fmt(r.time_on_item_s),
            r.position,
            r.created_at.isoformat(),
        ]
        for r in responses.iterator()
    )
    return _csv(LONG_COLUMNS, rows)


def stimuli_csv(study) -> str:
    """Per stimulus and question: n, MOS, std, 95%CI in the study's convention (named in the
    `ci_convention` column), both CIs, and the votes of used sessions."""
    votes = defaultdict(list)
    for r in analysis.used_responses(study).filter(question__kind=Question.Kind.SCALE):
        votes[(r.stimulus_id, r.question.key)].append(r.value)
    stimuli = {s.pk: s for s in study.stimuli.filter(role=Stimulus.Role.REGULAR)}
    width = max((len(v) for v in votes.values()), default=0)
    header = [
        "stimulus",
        "system",
        "utterance_id",
        "is_real",
        "question",
        "n",
        "MOS",
        "std",
        "95%CI",
        "ci_convention",
        "95%CI_t",
        "95%CI_z",
    ] + [f"vote_{i + 1}" for i in range(width)]
    lead = "ci95" if study.ci_convention == "t" else "ci95_z"
    rows = []
    for (pk, key), values in sorted(votes.items()):
        st, summary = stimuli[pk], analysis.t_ci(values)
        rows.append(
            [
                pk,
                st.system,
                st.utterance_id,
                int(st.is_real),
                key,
                summary["n"],
                _fmt(summary["mean"]),
                _fmt(summary["sd"]),
                _fmt(summary[lead]),
                study.ci_convention,
                _fmt(summary["ci95"]),
                _fmt(summary["ci95_z"]),
                *[_fmt(v) for v in values],
            ]
        )
    return _csv(header, rows)


def decision(session) -> str:
    """What to do with the platform submission: approve unless QC rejected it."""
    if session.status != Session.Status.COMPLETED:
        return ""
    return "reject" if session.qc_verdict == Session.Verdict.REJECT else "approve"


def raters_csv(study) -> str:
    """Per rater: platform ids, timing, QC verdict with reasons and the approve/reject decision."""
    header = [
        "rater",
        "platform",
        "session",
        "platform_session_id",
        "assignment_id",
        "hit_id",
        "status",
        "block",
        "responses",
        "started_at",
        "finished_at",
        "duration_s",
        "qc_verdict",
        "qc_reasons",
        "decision",
        "completion_code",
    ]
    sessions = study.sessions.select_related("rater").order_by("consented_at")
    counts = dict(
        Response.objects.filter(session__study=study).values_list("session").annotate(n=Count("pk"))
    )
    rows = []
    for s in sessions:
        duration = (
            (s.finished_at - s.started_at).total_seconds()
            if s.finished_at and s.started_at
            else None
        )
        reasons = "; ".join(f"{r['check']}: {r['detail']}" for r in s.qc_reasons)
        rows.append(
            [
                s.rater.external_id,
                s.rater.platform,
                s.pk,
                s.platform_session_id,
                s.assignment_id,
                s.hit_id,
                s.status,
                s.block,
                counts.get(s.pk, 0),
                s.started_at.isoformat() if s.started_at else "",
                s.finished_at.isoformat() if s.finished_at else "",
                _fmt(duration),
                s.qc_verdict,
                reasons,
                decision(s),
                s.completion_code,
            ]
        )
    return _csv(header, rows)


STIMULUS_FIELDS = [
    "id",
    "system",
    "utterance_id",
    "reference_text",
    "is_real",
    "role",
    "gold_answers",
    "duration_s",
    "section",
    "beside_system",
]
RESPONSE_FIELDS = [
    "session_id",
    "stimulus_id",
    "question__key",
    "value",
    "transcript",
    "tokens",
    "repeat",
    "play_count",
    "played_to_end",
    "time_on_item_s",
]


def _session_json(s) -> dict:
    return {
        "id": str(s.pk),
        "rater": s.rater.external_id,
        "platform": s.rater.platform,
        "block": s.block,
        "status": s.status,
        "qc_verdict": s.qc_verdict,
        "qc_reasons": s.qc_reasons,
        "decision": decision(s),
        "started_at": s.started_at,
        "finished_at": s.finished_at,
    }


def full_json(study) -> str:
    """The study's design, stimuli, sessions, responses and computed results as one document."""
    design = {
        "slug": study.slug,
        "title": study.title,
        "kind": study.kind,
        "platform": study.platform,
        "votes_per_stimulus": study.votes_per_stimulus,
        "stimuli_per_session": study.stimuli_per_session,
        "qc_config": study.qc_config,
        "ci_convention": study.ci_convention,
        "qualification": study.qualification,
    }
    responses = Response.objects.filter(session__study=study).values(*RESPONSE_FIELDS)
    document = {
        "study": design,
        "questions": list(
            study.questions.values(
                "key",
                "prompt",
                "kind",
                "scale_min",
                "scale_max",
                "anchors",
                "order",
                "section",
                "sound",
            )
        ),
        "stimuli": list(study.stimuli.values(*STIMULUS_FIELDS)),
        "sessions": [_session_json(s) for s in study.sessions.select_related("rater")],
        "responses": [
            {
                "session": str(r.pop("session_id")),
                "stimulus": r.pop("stimulus_id"),
                "question": r.pop("question__key"),
                **r,
            }
            for r in responses
        ],
        "results": analysis.study_results(study),
    }
    return json.dumps(document, indent=1, default=str)


def sureal_dataset(study, question_key: str) -> str:
    """A Netflix/sureal dataset file (Python literals) of one scale question's used votes."""
    repeats = defaultdict(lambda: defaultdict(list))
    for r in analysis.used_responses(study).filter(question__key=question_key).order_by("repeat"):
        repeats[r.stimulus_id][r.session.rater.external_id].append(r.value)
    # A rater's repeated votes on one clip are a list, as sureal writes repetitions.
    votes = {
        pk: {rater: v[0] if len(v) == 1 else v for rater, v in by_rater.items()}
        for pk, by_rater in repeats.items()
    }
    stimuli = {s.pk: s for s in study.stimuli.filter(pk__in=list(votes))}
    contents = sorted({s.utterance_id for s in stimuli.values()})
    content_id = {u: i for i, u in enumerate(contents)}
    ref_videos = [{"content_id": i, "content_name": u, "path": u} for u, i in content_id.items()]
    dis_videos = [
        {
            "content_id": content_id[st.utterance_id],
            "asset_id": pk,
            "os": votes[pk],
            "path": f"{st.system}/{st.utterance_id}",
            "system": st.system,
            "utterance_id": st.utterance_id,
        }
        for pk, st in sorted(stimuli.items())
    ]
    lines = [
        f"# sureal dataset exported by SyncLab: study {study.slug!r}, question {question_key!r}",
        f"dataset_name = {f'{study.slug}_{question_key}'!r}",
        "yuv_fmt = 'notyuv'",
        f"ref_videos = {ref_videos!r}",
        f"dis_videos = {dis_videos!r}",
    ]
    return "\n".join(lines) + "\n"
