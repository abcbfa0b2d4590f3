"""Import ratings collected elsewhere (long CSV, sureal dataset files) into a study as responses.

Imported votes become completed sessions of raters on the `import` platform, so that
`annotation.analysis` treats them like the study's own. A sureal file is read with `ast`: only
literal assignments are accepted, nothing in it is executed.
"""

import ast
import csv
import io
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from .models import Question, Rater, Response, Session, Stimulus, Study
from .services import AnnotationError

REQUIRED_LONG = {"rater", "system", "utterance_id", "question"}


def _questions(study) -> dict:
    return {q.key: q for q in study.questions.all()}


def _store(study, votes) -> int:
    """Store (rater, system, utterance, is_real, reference, verdict, question, value, text)."""
    questions = _questions(study)
    by_rater = defaultdict(list)
    for vote in votes:
        if vote[6] not in questions:
            raise AnnotationError(f"question {vote[6]!r} is not in study {study.slug!r}")
        by_rater[vote[0]].append(vote)
    now, created = timezone.now(), 0
    with transaction.atomic():
        stimuli = {}
        for rater_id, rows in by_rater.items():
            rater, _ = Rater.objects.get_or_create(
                study=study, platform=Study.Platform.IMPORT, external_id=rater_id
            )
            session, _ = Session.objects.get_or_create(
                rater=rater,
                defaults={
                    "study": study,
                    "status": Session.Status.COMPLETED,
                    "qc_verdict": rows[0][5] or Session.Verdict.ACCEPT,
                    "started_at": now,
                    "finished_at": now,
                },
            )
            batch = []
            for _, system, utt, is_real, reference, _, key, value, transcript in rows:
                if (system, utt) not in stimuli:
                    stimuli[(system, utt)], _ = Stimulus.objects.get_or_create(
                        study=study,
                        system=system,
                        utterance_id=utt,
                        role=Stimulus.Role.REGULAR,
                        defaults={"is_real": is_real, "reference_text": reference},
                    )
                batch.append(
                    Response(
                        session=session,
                        stimulus=stimuli[(system, utt)],
                        question=questions[key],
                        value=value,
                        transcript=transcript or "",
                        played_to_end=True,
                    )
                )
            before = session.responses.count()
            Response.objects.bulk_create(batch, ignore_conflicts=True)
            created += session.responses.count() - before
    return created


def _float_or_none(text: str, where: str):
    if text in ("", None):
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise AnnotationError(f"{where}: value {text!r} is not a number") from exc


def import_long_csv(*, study: Study, text: str) -> int:
    """Import a long CSV (the columns of `exports.long_csv`; at least rater, system, utterance_id,
    question and value or transcript). Returns the number of new responses."""
    reader = csv.DictReader(io.StringIO(text))
    missing = REQUIRED_LONG - set(reader.fieldnames or [])
    if missing:
        raise AnnotationError(f"long CSV: missing columns {', '.join(sorted(missing))}")
    votes = []
    for line, row in enumerate(reader, start=2):
        verdict = row.get("qc_verdict") or ""
        if verdict and verdict not in Session.Verdict.values:
            raise AnnotationError(f"long CSV line {line}: unknown qc_verdict {verdict!r}")
        votes.append(
            (
                row["rater"],
                row["system"],
                row["utterance_id"],
                row.get("is_real", "0") in {"1", "true", "True"},
                row.get("reference_text", ""),
                verdict,
                row["question"],
                _float_or_none(row.get("value", ""), f"line {line}"),
                row.get("transcript", ""),
            )
        )
    return _store(study, votes)


def _literals(text: str) -> dict:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise AnnotationError(f"sureal file: not Python ({exc.msg}, line {exc.lineno})") from exc
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in {"ref_videos", "dis_videos"}:
                try:
                    names[target.id] = ast.literal_eval(node.value)
                except ValueError as exc:
                    raise AnnotationError(
                        f"sureal file: {target.id} (line {node.lineno}) is not plain literals"
                    ) from exc
    if "dis_videos" not in names:
        raise AnnotationError("sureal file: no dis_videos list")
    return names


def import_sureal(*, study: Study, text: str, question_key: str) -> int:
    """Import a sureal dataset's opinion scores as votes on one scale question."""
    if question_key not in _questions(study):
        raise AnnotationError(f"question {question_key!r} is not in study {study.slug!r}")
    names = _literals(text)
    contents = {
        v["content_id"]: v.get("content_name", str(v["content_id"]))
        for v in names.get("ref_videos", [])
    }
    votes = []
    for video in names["dis_videos"]:
        scores = video.get("os")
        if scores is None:
            raise AnnotationError(f"sureal file: asset {video.get('asset_id')} has no 'os' scores")
        if isinstance(scores, list | tuple):
            # Unnamed raters: sureal lists them in the same order for every asset.
            scores = {f"subject{i}": s for i, s in enumerate(scores)}
        utterance = video.get("utterance_id") or contents.get(
            video["content_id"], str(video["content_id"])
        )
        system = video.get("system") or f"asset{video['asset_id']}"
        for rater, score in scores.items():
            if score is not None:
                votes.append(
                    (str(rater), system, utterance, False, "", "", question_key, float(score), "")
                )
    if any(q.kind != Question.Kind.SCALE for q in study.questions.filter(key=question_key)):
        raise AnnotationError(f"question {question_key!r} is not a rating scale")
    return _store(study, votes)
