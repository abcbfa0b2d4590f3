"""Study authoring: the only code that writes studies and stimuli (sessions and responses are
written by `annotation.sessions` and `annotation.responses`).

A stimulus's clip is always a clean copy made by `annotation.media`; stimuli taken from finished
generation jobs come through `annotation.selectors`, the app's one way into the jobs app.
"""

import random
import tempfile
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction

from . import media, selectors
from .errors import AnnotationError
from .models import Question, Stimulus, Study

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
    if not selectors.section_reads_lips(study, section):
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
        muted = selectors.section_is_muted(stimulus.study, stimulus.section)
        try:
            media.clean_copy(Path(path), clean, drop_audio=muted)
        except media.MediaError as exc:
            raise AnnotationError(str(exc)) from exc
        stimulus.duration_s = media.duration_s(clean)
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
    stored = []
    try:
        with transaction.atomic():
            for index, item in enumerate(items):
                job = selectors.generation_job(item.get("job"))
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
    scales = [
        q for q in selectors.section_questions(study, section) if q.kind == Question.Kind.SCALE
    ]
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
