"""Import ratings collected elsewhere (long CSV, sureal dataset files) into a study as responses.

Imported votes become completed sessions of raters on the `import` platform, so that
`annotation.analysis` treats them like the study's own, and go through the study's QC (a verdict
given in a long CSV is kept: the source screened those raters). A vote outside its question's
scale is refused with the rater, clip and value named.

A sureal file is read with `ast` and evaluated by `SurealReader`, never executed: literals, names
the file assigned before, `+` on strings and numbers, f-strings, `os.path.join`, and NaN for a
missing vote (`float('nan')`, `np.nan`); `import` lines are skipped. `os` may be a list (one vote
per subject, in the same order for every asset) or a dict keyed by subject; a vote that is itself
a list holds the subject's repeated votes (sureal's repetitions).
"""

import ast
import csv
import io
import math
import posixpath
from collections import defaultdict
from pathlib import PurePosixPath

from django.db import transaction
from django.utils import timezone

from . import qc
from .errors import AnnotationError
from .models import Question, Rater, Response, Session, Stimulus, Study

REQUIRED_LONG = {"rater", "system", "utterance_id", "question"}


def _questions(study) -> dict:
    return {q.key: q for q in study.questions.all()}


def _check_scale(question, value, rater, system, utterance):
    if question.kind != Question.Kind.SCALE or value is None:
        return
    if math.isnan(value) or not question.scale_min <= value <= question.scale_max:
        raise AnnotationError(
            f"rater {rater}, {system}/{utterance}: {question.key} {value:g} is outside the "
            f"question's scale {question.scale_min}-{question.scale_max}; fix the file or the "
            "question's scale"
        )


def _store(study, votes, *, run_qc: bool = True) -> int:
    """Store votes (rater, system, utterance, is_real, reference, verdict, question, value, text,
    repeat) as completed import sessions, all or none; then QC the new sessions without a given
    verdict. Returns the number of new responses."""
    questions = _questions(study)
    by_rater = defaultdict(list)
    for vote in votes:
        if vote[6] not in questions:
            raise AnnotationError(f"question {vote[6]!r} is not in study {study.slug!r}")
        _check_scale(questions[vote[6]], vote[7], vote[0], vote[1], vote[2])
        by_rater[vote[0]].append(vote)
    now, created, to_check = timezone.now(), 0, []
    with transaction.atomic():
        stimuli = {}
        for rater_id, rows in by_rater.items():
            rater, _ = Rater.objects.get_or_create(
                study=study, platform=Study.Platform.IMPORT, external_id=rater_id
            )
            session, new = Session.objects.get_or_create(
                rater=rater,
                defaults={
                    "study": study,
                    "status": Session.Status.COMPLETED,
                    "qc_verdict": rows[0][5] or Session.Verdict.PENDING,
                    # No timing is known: the checks on time spent pass imported sessions by.
                    "started_at": None,
                    "finished_at": now,
                },
            )
            if new and not rows[0][5]:
                to_check.append(session.pk)
            batch = []
            for _, system, utt, is_real, reference, _, key, value, transcript, repeat in rows:
                if (system, utt) not in stimuli:
                    stimuli[(system, utt)], _ = Stimulus.objects.get_or_create(
                        study=study,
                        system=system,
                        utterance_id=utt,
                        role=Stimulus.Role.REGULAR,
                        section="main",
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
                        repeat=repeat,
                    )
                )
            before = session.responses.count()
            Response.objects.bulk_create(batch, ignore_conflicts=True)
            created += session.responses.count() - before
        if run_qc and to_check:
            _qc_imported(study, to_check)
    return created


def _qc_imported(study, session_ids) -> None:
    """Give the newly imported sessions their QC verdicts; other sessions keep theirs."""
    verdicts = qc.study_verdicts(study)
    for session in Session.objects.filter(pk__in=session_ids):
        session.qc_verdict, session.qc_reasons = verdicts[session.pk]
        session.save(update_fields=["qc_verdict", "qc_reasons"])


def _float_or_none(text: str, where: str):
    if text in ("", None):
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise AnnotationError(f"{where}: value {text!r} is not a number") from exc


def import_long_csv(*, study: Study, text: str, run_qc: bool = True) -> int:
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
                _repeat(row.get("repeat", ""), line),
            )
        )
    return _store(study, votes, run_qc=run_qc)


def _repeat(text, line) -> int:
    try:
        return int(text or 0)
    except ValueError as exc:
        raise AnnotationError(
            f"long CSV line {line}: repeat {text!r} is not a whole number"
        ) from exc


class SurealReader:
    """Evaluates a sureal dataset file's top-level assignments without executing it.

    Each name is bound in file order, so `ref_videos` may use `ref_dir` assigned above it. An
    expression outside the small grammar in the module docstring is refused with its line.
    """

    NAN_NAMES = {("np", "nan"), ("numpy", "nan"), ("math", "nan"), ("np", "NaN"), ("np", "NAN")}

    def __init__(self, text: str):
        try:
            self.tree = ast.parse(text)
        except SyntaxError as exc:
            raise AnnotationError(
                f"sureal file: not Python ({exc.msg}, line {exc.lineno})"
            ) from exc
        self.names: dict = {}

    def read(self) -> dict:
        for node in self.tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring
            if not (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                raise AnnotationError(
                    f"sureal file line {node.lineno}: only `name = value` lines are read"
                )
            self.names[node.targets[0].id] = self.value(node.value)
        if "dis_videos" not in self.names:
            raise AnnotationError("sureal file: no dis_videos list")
        return self.names

    def refuse(self, node, what: str):
        raise AnnotationError(f"sureal file line {node.lineno}: {what} is not read (not executed)")

    def value(self, node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                self.refuse(node, "`**` in a dict")
            return {
                self.value(k): self.value(v) for k, v in zip(node.keys, node.values, strict=True)
            }
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in {"None", "True", "False"}:
                return {"None": None, "True": True, "False": False}[node.id]
            raise AnnotationError(
                f"sureal file line {node.lineno}: name {node.id!r} is used before it is assigned"
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.value(node.operand)
            if isinstance(operand, int | float):
                return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.value(node.left), self.value(node.right)
            if type(left) is type(right) and isinstance(left, str | int | float | list):
                return left + right
            if isinstance(left, int | float) and isinstance(right, int | float):
                return left + right
        if isinstance(node, ast.JoinedStr):
            return "".join(
                str(self.value(part.value)) if isinstance(part, ast.FormattedValue) else part.value
                for part in node.values
            )
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in self.NAN_NAMES:
                return math.nan
        if isinstance(node, ast.Call) and not node.keywords:
            return self.call(node)
        return self.refuse(node, f"`{ast.unparse(node)[:60]}`")

    def call(self, node):
        name = ast.unparse(node.func)
        args = [self.value(a) for a in node.args]
        if name == "os.path.join" and all(isinstance(a, str) for a in args):
            return posixpath.join(*args)
        if name == "float" and len(args) == 1 and str(args[0]).lower() == "nan":
            return math.nan
        return self.refuse(node, f"the call `{ast.unparse(node)[:60]}`")


def _votes_of(scores, asset) -> list[tuple[str, list]]:
    """(subject, [votes]) of one asset's `os`: a list or a dict, each vote a number, a list of
    repeated votes, or None/NaN for no vote."""
    if isinstance(scores, list):
        # Unnamed subjects: sureal lists them in the same order for every asset.
        scores = {f"subject{i}": s for i, s in enumerate(scores)}
    if not isinstance(scores, dict):
        raise AnnotationError(f"sureal file: asset {asset}: 'os' is neither a list nor a dict")
    result = []
    for subject, vote in scores.items():
        repeats = vote if isinstance(vote, list) else [vote]
        for value in repeats:
            if value is not None and not isinstance(value, int | float):
                raise AnnotationError(
                    f"sureal file: asset {asset}, subject {subject}: vote {value!r} is not a number"
                )
        result.append((str(subject), repeats))
    return result


def _condition(video: dict, content_name: str, system_key: str) -> str:
    """The system or condition of a dis_video: the key named, else sureal's path with the
    content's name taken off its file name (NFLX's BigBuckBunny_20_288_375.yuv -> 20_288_375),
    else the asset id."""
    if system_key:
        if system_key not in video:
            raise AnnotationError(
                f"sureal file: asset {video.get('asset_id')} has no key {system_key!r}"
            )
        return str(video[system_key])
    for key in ("system", "condition", "hrc"):
        if key in video:
            return str(video[key])
    stem = PurePosixPath(str(video.get("path", ""))).stem
    if stem and content_name and stem.startswith(content_name):
        stem = stem[len(content_name) :].lstrip("_-. ")
    return stem or f"asset{video.get('asset_id')}"


def import_sureal(
    *, study: Study, text: str, question_key: str, system_key: str = "", run_qc: bool = True
) -> int:
    """Import a sureal dataset's opinion scores as votes on one scale question.

    The utterance is the asset's content (its `content_name`), the system its condition (see
    `_condition`); repeated votes keep their order as `Response.repeat`.
    """
    question = _questions(study).get(question_key)
    if question is None:
        raise AnnotationError(f"question {question_key!r} is not in study {study.slug!r}")
    if question.kind != Question.Kind.SCALE:
        raise AnnotationError(f"question {question_key!r} is not a rating scale")
    names = SurealReader(text).read()
    refs = names.get("ref_videos") or []
    contents = {
        v.get("content_id"): str(v.get("content_name", v.get("content_id")))
        for v in refs
        if isinstance(v, dict)
    }
    votes = []
    for video in names["dis_videos"]:
        if not isinstance(video, dict) or "os" not in video:
            asset = video.get("asset_id") if isinstance(video, dict) else video
            raise AnnotationError(f"sureal file: asset {asset} has no 'os' scores")
        content = contents.get(video.get("content_id"), "")
        utterance = str(video.get("utterance_id") or content or video.get("content_id"))
        system = _condition(video, content, system_key)
        for rater, repeats in _votes_of(video["os"], video.get("asset_id")):
            for repeat, score in enumerate(repeats):
                if score is None or math.isnan(score):
                    continue  # a missing vote
                votes.append(
                    (
                        rater,
                        system,
                        utterance,
                        False,
                        "",
                        "",
                        question_key,
                        float(score),
                        "",
                        repeat,
                    )
                )
    keys = [(v[0], v[1], v[2], v[9]) for v in votes]
    if len(keys) != len(set(keys)):
        raise AnnotationError(
            "sureal file: two assets share a content and a condition; name the key that tells "
            "their systems apart (?system_key=...)"
        )
    return _store(study, votes, run_qc=run_qc)
