"""Crowd-study services: the only code that writes studies, stimuli, raters, sessions and responses.

Assignment follows annotation-research.md §9: balanced blocks as in P.808's `balanced_block`, a
Latin square across blocks (block g shows utterance u under system (u + g) mod S, so no rater meets
one utterance under two systems), the least-filled block first counting unexpired sessions as
psiTurk does, gold and trap items mixed in, and a shuffled order per session.
"""

import random
import subprocess
import tempfile
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from . import media, qc, qualification, selectors
from .models import Question, Rater, Response, Session, SessionItem, Stimulus, Study


class AnnotationError(Exception):
    """A request the study cannot serve; the message is shown to the rater or staff as is."""


class StudyClosed(AnnotationError):
    pass


class StudyFull(AnnotationError):
    pass


class AlreadyParticipated(AnnotationError):
    def __init__(self, message: str, session: Session | None = None):
        super().__init__(message)
        self.session = session


class NotInSession(AnnotationError):
    pass


class InvalidAnswer(AnnotationError):
    pass


class SessionClosed(AnnotationError):
    pass


class PlayRefused(AnnotationError):
    pass


# The player posts `play` and `ended` separately; network jitter may bring `ended` this much
# sooner after `play` than the clip lasts.
ENDED_SLACK_S = 0.5


# The first path segments under /study/ that are not studies.
RESERVED_SLUGS = {"dashboard", "api", "s", "m"}
DEFAULT_QUESTIONS = {
    Study.Kind.ACR: [
        {
            "key": "realness",
            "prompt": "How real does this video look?",
            "anchors": ["Bad", "Poor", "Fair", "Good", "Excellent"],
        }
    ],
    Study.Kind.TRANSCRIBE: [
        {"key": "transcript", "prompt": "Type the words the person says.", "kind": "text"}
    ],
}


def study_create(*, slug: str, title: str, kind: str = Study.Kind.ACR, questions=None, **options):
    """Create a study with its questions (dicts of Question fields; defaults by study kind)."""
    if kind not in Study.Kind.values:
        raise AnnotationError(f"unknown study kind {kind!r}; use one of {Study.Kind.values}")
    if slug in RESERVED_SLUGS:
        raise AnnotationError(f"the slug {slug!r} is taken by the site; choose another")
    questions = questions or DEFAULT_QUESTIONS[kind]
    with transaction.atomic():
        study = Study.objects.create(slug=slug, title=title, kind=kind, **options)
        for order, spec in enumerate(questions):
            spec = {"order": order, **spec}
            if kind == Study.Kind.TRANSCRIBE:
                spec.setdefault("kind", Question.Kind.TEXT)
                spec.setdefault("sound", False)  # lip reading: the clip plays without sound
            question = Question(study=study, **spec)
            _check_question(question)
            question.save()
    return study


def _check_question(question: Question) -> None:
    if question.kind not in Question.Kind.values:
        raise AnnotationError(
            f"question {question.key!r}: unknown kind {question.kind!r}; use one of "
            f"{Question.Kind.values}"
        )
    if question.kind == Question.Kind.SCALE and question.scale_max <= question.scale_min:
        raise AnnotationError(f"question {question.key!r}: scale_max must exceed scale_min")
    if question.kind == Question.Kind.TOKENS and len(question.anchors) < 2:
        raise AnnotationError(f"question {question.key!r}: list at least two tokens in anchors")


def section_questions(study: Study, section: str) -> list[Question]:
    """The questions a clip of `section` is asked (from the prefetched questions if any)."""
    return [q for q in study.questions.all() if q.section == section]


def section_is_muted(study: Study, section: str) -> bool:
    """Whether clips of `section` play without sound: no question of it needs sound."""
    questions = section_questions(study, section)
    if not questions:
        return study.kind == Study.Kind.TRANSCRIBE
    return not any(q.sound for q in questions)


def section_reads_lips(study: Study, section: str) -> bool:
    """Whether `section` asks for transcripts (lip reading), scored against reference words."""
    questions = section_questions(study, section)
    if not questions:
        return study.kind == Study.Kind.TRANSCRIBE
    return any(q.kind == Question.Kind.TEXT for q in questions)


def _probe_duration(path: Path) -> float | None:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
    )
    try:
        return float(out.stdout.strip())
    except ValueError:
        return None


def _remux(src: Path, dst: Path, *, drop_audio: bool) -> None:
    """Copy the streams into a clean MP4: no metadata (titles could name the system), moov first.

    Lip-reading clips lose their audio here, so unmuting in the browser reveals nothing.
    """
    audio = ["-an"] if drop_audio else ["-map", "0:a:0?"]
    base = ["ffmpeg", "-y", "-v", "error", "-i", str(src), "-map", "0:v:0", *audio]
    tail = ["-map_metadata", "-1", "-movflags", "+faststart", str(dst)]
    if subprocess.run([*base, "-c", "copy", *tail], capture_output=True).returncode == 0:
        return
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    done = subprocess.run([*base, *encode, *tail], capture_output=True, text=True)
    if done.returncode != 0:
        raise AnnotationError(f"{src.name}: not a usable video ({done.stderr.strip()[-200:]})")


def stimulus_add(
    *,
    study: Study,
    path: Path | str | None,
    system: str,
    utterance_id: str,
    reference_text: str = "",
    is_real: bool = False,
    role: str = Stimulus.Role.REGULAR,
    gold_answers: dict | None = None,
    source_job=None,
    section: str = "main",
    beside: Path | str | None = None,
    beside_system: str = "",
    feedback: str = "",
) -> Stimulus:
    """Add one stimulus; its media is a cleaned copy of `path` (None: ratings without media).

    With `beside`, the clip shows `path` on the left and `beside` (of system `beside_system`,
    e.g. "real" for P.910 Template B) on the right.
    """
    if role not in Stimulus.Role.values:
        raise AnnotationError(f"unknown stimulus role {role!r}; use one of {Stimulus.Role.values}")
    sections = {q.section for q in study.questions.all()}
    if sections and section not in sections:
        raise AnnotationError(
            f"{system}/{utterance_id}: no question is in section {section!r} "
            f"(sections: {', '.join(sorted(sections))})"
        )
    stimulus_check_expected_words(
        study=study,
        role=role,
        reference_text=reference_text,
        gold_answers=gold_answers or {},
        name=f"{system}/{utterance_id}",
        section=section,
    )
    stimulus = Stimulus(
        study=study,
        system=system,
        utterance_id=utterance_id,
        reference_text=reference_text,
        is_real=is_real,
        role=role,
        gold_answers=gold_answers or {},
        source_job=source_job,
        section=section,
        beside_system=beside_system or ("other" if beside is not None else ""),
        feedback=feedback,
    )
    try:
        with transaction.atomic():
            stimulus.save()
            if path is not None and beside is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    pair = media.side_by_side(Path(path), Path(beside), Path(tmp) / "pair.mp4")
                    stimulus_set_media(stimulus=stimulus, path=pair)
            elif path is not None:
                stimulus_set_media(stimulus=stimulus, path=path)
    except IntegrityError as exc:
        raise AnnotationError(
            f"{system}/{utterance_id}: this study already has that system and utterance"
        ) from exc
    except media.MediaError as exc:
        raise AnnotationError(f"{system}/{utterance_id}: {exc}") from exc
    return stimulus


def stimulus_check_expected_words(
    *,
    study: Study,
    role: str,
    reference_text: str,
    gold_answers: dict,
    name: str,
    section: str = "main",
) -> None:
    """Lip-reading stimuli the metrics or QC score need the words they are scored against."""
    if not section_reads_lips(study, section):
        return
    if role == Stimulus.Role.REGULAR and not reference_text.strip():
        raise AnnotationError(f"{name}: lip-reading stimuli need a reference text")
    if role == Stimulus.Role.GOLD and not (reference_text.strip() or any(gold_answers.values())):
        raise AnnotationError(f"{name}: a lip-reading gold item needs its known transcript")
    if role == Stimulus.Role.TRAP and not any(
        isinstance(words, str) and words.strip() for words in gold_answers.values()
    ):
        raise AnnotationError(
            f"{name}: a lip-reading trap needs the words its on-screen instruction asks for, "
            'e.g. gold_answers {"transcript": "banana"}'
        )


def stimulus_set_media(*, stimulus: Stimulus, path: Path | str) -> Stimulus:
    """Store a cleaned copy of `path` as the stimulus's clip (muted for lip reading)."""
    old = stimulus.media.name if stimulus.media else ""
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clip.mp4"
        muted = section_is_muted(stimulus.study, stimulus.section)
        _remux(Path(path), clean, drop_audio=muted)
        stimulus.duration_s = _probe_duration(clean)
        with clean.open("rb") as fh:
            stimulus.media.save("clip.mp4", File(fh), save=False)
    stimulus.save(update_fields=["media", "duration_s"])
    if old and old != stimulus.media.name:
        stimulus.media.storage.delete(old)
    return stimulus


def stimulus_add_from_job(
    *, study: Study, job, utterance_id: str, reference_text: str = "", system: str = "", name=""
) -> Stimulus:
    """Add the video output of a finished generation job; the system defaults to its model id."""
    if job.kind != job.Kind.GENERATE:
        raise AnnotationError(f"job {job.pk} is a {job.kind} job, not a generation")
    if job.status != job.Status.SUCCEEDED:
        raise AnnotationError(f"job {job.pk} has not succeeded (status {job.status})")
    videos = [o for o in job.outputs if o["content_type"].startswith("video/")]
    chosen = [o for o in videos if o["name"] == name] if name else videos[:1]
    if not chosen:
        raise AnnotationError(f"job {job.pk} has no video output {name!r}")
    return stimulus_add(
        study=study,
        path=job.output_path(chosen[0]["name"]),
        system=system or job.model_id or "generated",
        utterance_id=utterance_id,
        reference_text=reference_text,
        source_job=job.pk,
    )


def stimuli_add_from_jobs(*, study: Study, items: list[dict]) -> list[Stimulus]:
    """Add many stimuli from finished generation jobs, all or none.

    Each item: {"job": a Job or its id, "utterance_id": ..., "reference_text": "" (optional),
    "system": "" (optional, defaults to the job's model)}. The first bad item raises an
    AnnotationError naming its position; the rows roll back and the clips already copied go too.
    """
    from webapp.jobs.selectors import job_or_none

    stored = []
    try:
        with transaction.atomic():
            for index, item in enumerate(items):
                job = job_or_none(item.get("job"))
                if job is None:
                    raise AnnotationError(f"item {index}: no job {item.get('job')!r}")
                try:
                    stored.append(
                        stimulus_add_from_job(
                            study=study,
                            job=job,
                            utterance_id=str(item.get("utterance_id", "")).strip(),
                            reference_text=item.get("reference_text", ""),
                            system=str(item.get("system", "")).strip(),
                        )
                    )
                except AnnotationError as exc:
                    raise AnnotationError(f"item {index}: {exc}") from exc
    except AnnotationError:
        for stimulus in stored:
            stimulus.media.delete(save=False)
        raise
    return stored


def _section_blocks(rows, size: int) -> list[list[int]]:
    """Latin-square blocks of one section's (pk, system, utterance) rows."""
    grid = defaultdict(dict)
    for pk, system, utterance in rows:
        grid[utterance][system] = pk
    systems = sorted({s for row in grid.values() for s in row})
    utterances = sorted(grid)
    chunks = [utterances[i : i + size] for i in range(0, len(utterances), size)]
    blocks = []
    for g in range(len(systems)):
        for chunk_start, chunk in zip(range(0, len(utterances), size), chunks, strict=True):
            block = []
            for offset, utterance in enumerate(chunk):
                system = systems[(chunk_start + offset + g) % len(systems)]
                if system in grid[utterance]:
                    block.append(grid[utterance][system])
            if block:
                blocks.append(block)
    return blocks


def study_blocks(study: Study) -> list[list[int]]:
    """The study's regular stimuli split into Latin-square blocks (lists of stimulus ids).

    Within a section, block (g, c) holds, for the c-th chunk of utterances, utterance i under
    system (i + g) mod S: every stimulus lies in exactly one block and every block shows an
    utterance at most once. A study with several sections (a rating part and a lip-reading
    part) joins the k-th block of each section, cycling through a section's blocks when it has
    fewer, so every session covers every section.
    """
    rows = defaultdict(list)
    for pk, system, utterance, section in Stimulus.objects.filter(
        study=study, role=Stimulus.Role.REGULAR
    ).values_list("pk", "system", "utterance_id", "section"):
        rows[section].append((pk, system, utterance))
    size = max(1, study.stimuli_per_session)
    per_section = [_section_blocks(rows[name], size) for name in sorted(rows)]
    per_section = [blocks for blocks in per_section if blocks]
    if len(per_section) <= 1:
        return per_section[0] if per_section else []
    count = max(len(blocks) for blocks in per_section)
    return [[pk for blocks in per_section for pk in blocks[g % len(blocks)]] for g in range(count)]


def _block_fill(study: Study) -> dict[int, int]:
    """Sessions per block that count towards its votes: kept completions plus live ones."""
    counting = Q(status=Session.Status.COMPLETED) & ~Q(qc_verdict=Session.Verdict.REJECT)
    counting |= Q(status__in=Session.LIVE)
    rows = Session.objects.filter(counting, study=study).values("block").annotate(n=Count("pk"))
    return {row["block"]: row["n"] for row in rows}


def session_expire(*, session: Session, now=None) -> Session:
    """Close an overdue live session: completed if every clip has its answers, else abandoned.

    An abandoned session keeps its responses but leaves the metrics (only completed sessions
    enter them), frees its block for the next rater and cannot be resumed. Anything else is
    returned unchanged.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Session.objects.select_related("study").select_for_update(of=("self",))
        session = locked.get(pk=session.pk)
        if not session.is_overdue(now):
            return session
        pending = session_pending_items(session).count()
        if not pending:
            return session_complete(session=session)
        total = session.items.exclude(stimulus__role=Stimulus.Role.PRACTICE).count()
        session.status = Session.Status.ABANDONED
        session.finished_at = now
        session.qc_verdict = Session.Verdict.EXCLUDE
        detail = (
            f"not finished within {session.study.session_ttl_minutes} minutes; "
            f"{total - pending} of {total} clips answered"
        )
        session.qc_reasons = [{"check": "abandoned", "action": "exclude", "detail": detail}]
        session.save(update_fields=["status", "finished_at", "qc_verdict", "qc_reasons"])
    return session


def sessions_expire_overdue(*, study: Study | None = None, now=None) -> Counter:
    """Expire every overdue live session (of one study, or of all); count them by new status."""
    now = now or timezone.now()
    studies = [study] if study is not None else Study.objects.all()
    outcome = Counter()
    for each in studies:
        cutoff = now - timedelta(minutes=each.session_ttl_minutes)
        overdue = Session.objects.filter(
            study=each, status__in=Session.LIVE, consented_at__lt=cutoff
        )
        for session in overdue:
            outcome[session_expire(session=session, now=now).status] += 1
    return outcome


def session_assign(*, study: Study, rater: Rater, rng=None, **platform_fields) -> Session:
    """Create the rater's session: the least-filled block, gold and trap items, shuffled.

    The practice clip comes first, then the training clips, then the trials section by section
    (in the order of the sections' questions, so the sound goes off once, for lip reading),
    shuffled within each section.
    """
    rng = rng or random.SystemRandom()
    # Overdue sessions give their blocks back before the least-filled one is chosen.
    sessions_expire_overdue(study=study)
    blocks = study_blocks(study)
    if not blocks:
        raise StudyClosed("this study has no stimuli yet")
    fill = _block_fill(study)
    least = min(fill.get(g, 0) for g in range(len(blocks)))
    if least >= study.votes_per_stimulus:
        raise StudyFull("this study has all the ratings it needs; thank you for your interest")
    candidates = [g for g in range(len(blocks)) if fill.get(g, 0) == least]
    block = rng.choice(candidates)
    trials = list(blocks[block])
    for role, count in [
        (Stimulus.Role.GOLD, study.gold_per_session),
        (Stimulus.Role.TRAP, study.traps_per_session),
    ]:
        pool = list(Stimulus.objects.filter(study=study, role=role).values_list("pk", flat=True))
        trials += rng.sample(pool, min(count, len(pool)))
    section_of = dict(Stimulus.objects.filter(pk__in=trials).values_list("pk", "section"))
    rank = {}
    for q in study.questions.order_by("order", "id"):
        rank.setdefault(q.section, len(rank))
    rng.shuffle(trials)
    trials.sort(key=lambda pk: rank.get(section_of[pk], len(rank)))  # stable: shuffled within
    practice = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.PRACTICE).values_list(
            "pk", flat=True
        )[:1]
    )
    training = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.TRAINING)
        .order_by("utterance_id", "pk")
        .values_list("pk", flat=True)
    )
    session = Session.objects.create(study=study, rater=rater, block=block, **platform_fields)
    SessionItem.objects.bulk_create(
        SessionItem(session=session, stimulus_id=pk, position=i)
        for i, pk in enumerate(practice + training + trials)
    )
    return session


def rater_enter(
    *, study: Study, platform: str, external_id: str, rng=None, **platform_fields
) -> Session:
    """Register a rater and assign a session; a rater who already took part is refused."""
    if not study.is_open:
        raise StudyClosed("this study is closed")
    if not external_id:
        raise AnnotationError("a participant id is needed to take part")
    with transaction.atomic():
        # One assignment at a time per study, so that concurrent raters spread over the blocks.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        existing = Session.objects.filter(
            rater__study=study, rater__platform=platform, rater__external_id=external_id
        ).first()
        if (
            existing is not None
            or Rater.objects.filter(
                study=study, platform=platform, external_id=external_id
            ).exists()
        ):
            raise AlreadyParticipated("you have already taken part in this study", existing)
        rater = Rater.objects.create(study=study, platform=platform, external_id=external_id)
        return session_assign(study=study, rater=rater, rng=rng, **platform_fields)


def _checked_value(question: Question, raw) -> dict:
    if question.kind == Question.Kind.TEXT:
        return {"transcript": str(raw or "").strip()[:2000]}
    if question.kind == Question.Kind.TOKENS:
        ticked = [raw] if isinstance(raw, str) else list(raw or [])
        unknown = [t for t in ticked if t not in question.anchors]
        if unknown:
            raise InvalidAnswer(f"{question.key}: {unknown[0]!r} is not one of its tokens")
        return {"tokens": ticked}
    if question.kind == Question.Kind.PREFERENCE:
        if str(raw) not in {"0", "1"}:
            raise InvalidAnswer(f"{question.key}: choose the left or the right video")
        return {"value": float(raw)}
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidAnswer(f"{question.key}: choose a rating") from exc
    if not (question.scale_min <= value <= question.scale_max) or value != int(value):
        raise InvalidAnswer(
            f"{question.key}: {raw!r} is not on the scale {question.scale_min}-{question.scale_max}"
        )
    return {"value": value}


def play_record(*, session: Session, item: SessionItem, event: str, now=None) -> SessionItem:
    """Record the player's `play` or `ended` event for one clip of the session.

    A play beyond the study's `max_plays` is refused (practice clips have no limit). `ended`
    counts only after a recorded play, and no sooner than the clip's length after it, so a form
    or a script cannot claim a clip was watched that never played.
    """
    if item.session_id != session.pk:
        raise NotInSession("this clip is not part of your session")
    if session.status not in Session.LIVE or session.is_overdue():
        raise SessionClosed("this session is finished or has expired")
    now = now or timezone.now()
    rows = SessionItem.objects.filter(pk=item.pk)
    if event == "play":
        limit = 0 if item.stimulus.role == Stimulus.Role.PRACTICE else session.study.max_plays
        # The count and the limit meet in one UPDATE: two plays racing cannot both slip under.
        allowed = rows.filter(plays__lt=limit) if limit else rows
        if not allowed.update(plays=F("plays") + 1, last_play_at=now):
            raise PlayRefused(
                f"you have played this clip {limit} time{'s' if limit > 1 else ''}, "
                "the most this study allows"
            )
        # The caller's copy, without a re-read: a twin play racing this one may make the count
        # one low, but the limit above is the database's.
        item.plays, item.last_play_at = item.plays + 1, now
    elif event == "ended":
        if item.last_play_at is None:
            raise InvalidAnswer("this clip has not been played")
        elapsed = (now - item.last_play_at).total_seconds()
        length = item.stimulus.duration_s
        if length and elapsed < length - ENDED_SLACK_S:
            raise InvalidAnswer(
                f"the clip lasts {length:.1f} s but ended {elapsed:.1f} s after it started; "
                "play it to the end"
            )
        rows.update(played_to_end=True)
        item.played_to_end = True
    elif event == "interrupted":
        # The page went out of sight, or the sound off where it matters: this play no longer
        # counts towards "played to the end"; the next full play does.
        rows.filter(played_to_end=False).update(last_play_at=None)
        if not item.played_to_end:
            item.last_play_at = None
    else:
        raise InvalidAnswer(f"unknown player event {event!r}; use play, ended or interrupted")
    return item


def response_record(
    *,
    session: Session,
    item: SessionItem,
    answers: dict,
    time_on_item_s: float | None = None,
) -> bool:
    """Store the answers to every question for one clip of the session; whether they were new.

    The play count and played-to-end flag come from the server's record of the player
    (`play_record`), not from the form. A repeat of an answered item stores nothing: responses
    are append-only. Twin posts racing each other both store nothing twice (the unique
    constraint decides); both may then report the rows as new.
    """
    if item.session_id != session.pk:
        raise NotInSession("this clip is not part of your session")
    questions = section_questions(session.study, item.stimulus.section)
    stored = Response.objects.filter(session=session, stimulus_id=item.stimulus_id).count()
    if stored >= len(questions):
        return False
    if session.status not in Session.LIVE or session.is_overdue():
        raise SessionClosed("this session is finished or has expired")
    if session.study.require_played_to_end and not item.played_to_end:
        raise InvalidAnswer("play the clip to its end before answering")
    missing = [q.key for q in questions if q.key not in answers]
    if missing:
        raise InvalidAnswer(f"answer every question (missing: {', '.join(missing)})")
    common = {
        "play_count": item.plays,
        "played_to_end": item.played_to_end,
        "time_on_item_s": time_on_item_s,
        "position": item.position,
    }
    fresh = [
        Response(
            session=session,
            stimulus_id=item.stimulus_id,
            question=question,
            **common,
            **_checked_value(question, answers[question.key]),
        )
        for question in questions
    ]
    # One INSERT .. ON CONFLICT DO NOTHING, atomic by itself: a concurrent twin of this post
    # inserts nothing, and no transaction holds locks across round trips.
    Response.objects.bulk_create(fresh, ignore_conflicts=True)
    return True


def session_pending_items(session: Session):
    """The session's items still lacking an answer, in playlist order (practice excluded)."""
    per_section = Counter(q.section for q in session.study.questions.all())  # prefetched
    done = Q(stimulus__section="", n__lt=0)  # matches nothing; each section's rule is OR-ed on
    for section, n_questions in per_section.items():
        done |= Q(stimulus__section=section, n__gte=n_questions)
    answered = (
        Response.objects.filter(session=session)
        .values("stimulus")
        .annotate(n=Count("pk"))
        .filter(done)
        .values("stimulus")
    )
    return (
        session.items.exclude(stimulus__role=Stimulus.Role.PRACTICE)
        .exclude(stimulus__in=answered)
        .select_related("stimulus")
        .order_by("position")
    )


def session_complete(*, session: Session) -> Session:
    """Close a session whose items are all answered; run the per-session QC checks."""
    with transaction.atomic():
        session = Session.objects.select_for_update().get(pk=session.pk)
        if session.status == Session.Status.COMPLETED:
            return session
        if session_pending_items(session).exists():
            raise InvalidAnswer("some clips still need an answer")
        session.status = Session.Status.COMPLETED
        session.finished_at = timezone.now()
        session.completion_code = session.study.completion_code or _session_code()
        session.qc_verdict, session.qc_reasons = qc.session_verdict(session)
        session.save()
    return session


def session_qualify(*, session: Session, answers: dict) -> list[str]:
    """Record the rater's qualification; a failure screens the session out. Returns the
    failures (empty: qualified)."""
    with transaction.atomic():
        session = (
            Session.objects.select_related("study")
            .select_for_update(of=("self",))
            .get(pk=session.pk)
        )
        if session.status not in Session.LIVE:
            raise SessionClosed("this session is finished or has expired")
        if session.qualified_at is not None:
            return []
        failures = qualification.failures(session.study, session, answers)
        measured = {k: answers.get(k) for k in ("screen_width", "screen_height", "refresh_hz")}
        session.qualification = {
            **session.qualification,
            "display": measured,
            "heard_number": str(answers.get("heard_number", ""))[:20],
            "failures": failures,
        }
        if failures:
            session.status = Session.Status.SCREENED_OUT
            session.finished_at = timezone.now()
            session.qc_verdict = Session.Verdict.EXCLUDE
            session.qc_reasons = [
                {"check": "qualification", "action": "exclude", "detail": "; ".join(failures)}
            ]
            session.completion_code = session.study.screenout_code
        else:
            session.qualified_at = timezone.now()
        session.save()
    return failures


def preference_pair_add(
    *,
    study: Study,
    first: tuple[str, Path | str | None],
    second: tuple[str, Path | str | None],
    utterance_id: str,
    section: str = "main",
    rng=None,
) -> Stimulus:
    """An A/B pair of two systems' clips (system, path) of one utterance, side by side, the
    sides drawn at random so neither system always plays on the left (P.808's CCR randomises
    the order the same way); the analysis reads the sides back from the stimulus."""
    rng = rng or random.SystemRandom()
    (left_system, left), (right_system, right) = rng.sample([first, second], 2)
    if left_system == right_system:
        raise AnnotationError(f"{utterance_id}: an A/B pair needs two different systems")
    return stimulus_add(
        study=study,
        path=left,
        beside=right if left is not None else None,
        system=left_system,
        beside_system=right_system,
        utterance_id=utterance_id,
        section=section,
    )


def trap_add(
    *, study: Study, video: Path | str, answer: int, section: str = "main", utterance_id=""
) -> Stimulus:
    """A trap clip made by the tool: `video`'s picture with a spoken instruction to give
    `answer` to every rating question of `section`. Only a rater with the sound on can pass."""
    scales = [q for q in section_questions(study, section) if q.kind == Question.Kind.SCALE]
    if not scales:
        raise AnnotationError(f"section {section!r} has no rating question for a trap to ask for")
    labels = dict(scales[0].choices())
    if answer not in labels:
        raise AnnotationError(f"answer {answer} is not on the scale of {scales[0].key!r}")
    wording = f"{answer}, {labels[answer]}" if labels[answer] != str(answer) else str(answer)
    instruction = (
        f"This is an attention check. For every statement about this clip, please answer {wording}."
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            clip = media.trap_clip(Path(video), instruction, Path(tmp) / "trap.mp4")
        except media.MediaError as exc:
            raise AnnotationError(f"trap clip: {exc}") from exc
        count = Stimulus.objects.filter(study=study, role=Stimulus.Role.TRAP).count()
        return stimulus_add(
            study=study,
            path=clip,
            system="trap",
            utterance_id=utterance_id or f"trap{count + 1}",
            role=Stimulus.Role.TRAP,
            gold_answers={q.key: answer for q in scales},
            section=section,
            reference_text=instruction,
        )


def _session_code() -> str:
    return f"S{random.SystemRandom().getrandbits(40):010X}"


def qc_rerun(*, study: Study) -> int:
    """Recompute every completed session's verdict, adding the study-wide checks; count changes."""
    verdicts = qc.study_verdicts(study)
    changed = 0
    with transaction.atomic():
        for session in Session.objects.filter(study=study, status=Session.Status.COMPLETED):
            verdict, reasons = verdicts[session.pk]
            if (verdict, reasons) != (session.qc_verdict, session.qc_reasons):
                session.qc_verdict, session.qc_reasons = verdict, reasons
                session.save(update_fields=["qc_verdict", "qc_reasons"])
                changed += 1
    return changed


def study_lipread(*, study: Study) -> int:
    """Have a worker read the study's lip-reading clips with the zoo's lip reader (the machine
    lip-readability the dashboard sets beside the human word accuracy); earlier readings are
    cleared. Returns how many clips it will read."""
    from workers.tasks import lipread_study  # the web app imports workers only to enqueue

    with transaction.atomic():
        count = selectors.stimuli_to_lipread(study).update(machine_reading={})
        if not count:
            raise AnnotationError(
                "no clip to read: lip reading needs regular stimuli with media and reference "
                "words in a section that asks for transcripts"
            )
        transaction.on_commit(lambda: lipread_study.delay(study.pk))
    return count
