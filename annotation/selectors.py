"""Read-only queries: the questions of a study's sections, a session's pending clips, how full each
block is, a study's progress (no statistics here), and the generation jobs a study can take clips
from (the one place where the annotation app reads the jobs app, through its selectors)."""

from collections import Counter
from datetime import timedelta
from statistics import median

from django.db.models import Count, Q
from django.utils import timezone

from webapp.jobs.selectors import finished_generations, job_or_none

from .models import Question, Response, Session, Stimulus, Study


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


def block_fill(study: Study) -> dict[int, int]:
    """Sessions per block that count towards its votes: kept completions plus live ones."""
    counting = Q(status=Session.Status.COMPLETED) & ~Q(qc_verdict=Session.Verdict.REJECT)
    counting |= Q(status__in=Session.LIVE)
    rows = Session.objects.filter(counting, study=study).values("block").annotate(n=Count("pk"))
    return {row["block"]: row["n"] for row in rows}


def session_counts(study) -> dict:
    """Sessions started, live, stale (past the timeout, not yet expired), abandoned, completed
    and completed by QC verdict."""
    stale_before = timezone.now() - timedelta(minutes=study.session_ttl_minutes)
    sessions = study.sessions.all()
    unfinished = sessions.filter(status__in=Session.LIVE)
    completed = sessions.filter(status=Session.Status.COMPLETED)
    verdicts = dict(completed.values_list("qc_verdict").annotate(n=Count("pk")))
    return {
        "started": sessions.count(),
        "live": unfinished.filter(consented_at__gte=stale_before).count(),
        "stale": unfinished.filter(consented_at__lt=stale_before).count(),
        "abandoned": sessions.filter(status=Session.Status.ABANDONED).count(),
        "completed": completed.count(),
        "accepted": verdicts.get(Session.Verdict.ACCEPT, 0)
        + verdicts.get(Session.Verdict.PENDING, 0),
        "excluded": verdicts.get(Session.Verdict.EXCLUDE, 0),
        "rejected": verdicts.get(Session.Verdict.REJECT, 0),
    }


def votes_per_stimulus(study) -> dict:
    """Used votes (distinct sessions) per regular stimulus, and how many reached the target."""
    stimuli = list(study.stimuli.filter(role=Stimulus.Role.REGULAR).values_list("pk", flat=True))
    counts = dict(
        Response.objects.filter(
            stimulus__in=stimuli,
            session__status=Session.Status.COMPLETED,
            session__qc_verdict__in=[Session.Verdict.ACCEPT, Session.Verdict.PENDING],
        )
        .values_list("stimulus")
        .annotate(n=Count("session", distinct=True))
    )
    votes = [counts.get(pk, 0) for pk in stimuli]
    return {
        "stimuli": len(stimuli),
        "target": study.votes_per_stimulus,
        "at_target": sum(v >= study.votes_per_stimulus for v in votes),
        "min": min(votes, default=0),
        "median": median(votes) if votes else 0,
        "max": max(votes, default=0),
        "histogram": sorted(Counter(votes).items()),
    }


def qc_reason_counts(study) -> list[tuple[str, int]]:
    """How many completed sessions failed each QC check."""
    counter = Counter()
    for reasons in study.sessions.filter(status=Session.Status.COMPLETED).values_list(
        "qc_reasons", flat=True
    ):
        counter.update({r["check"] for r in reasons})
    return counter.most_common()


def generation_job(job):
    """The job a stimulus is to be taken from, given as itself or by its id; None for an unknown
    id. Whether it is a finished generation is the caller's check, whose message says what the
    job is instead."""
    return job_or_none(job)


def generation_jobs(limit: int = 200):
    """Succeeded generation jobs, oldest first."""
    return finished_generations()[:limit]


def generation_jobs_to_offer(study, limit: int = 200):
    """Succeeded generation jobs whose clips the study does not hold yet, oldest first (a job
    finishing meanwhile joins the end of the list, so the rows on a page keep their places)."""
    used = study.stimuli.filter(source_job__isnull=False).values("source_job")
    return finished_generations().exclude(pk__in=used)[:limit]


def stimuli_to_lipread(study):
    """The clips a machine lip reader can be scored on: regular stimuli with media and reference
    words in a section that asks for transcripts."""
    sections = study.questions.filter(kind=Question.Kind.TEXT).values("section")
    return (
        study.stimuli.filter(role=Stimulus.Role.REGULAR, section__in=sections)
        .exclude(media="")
        .exclude(reference_text="")
        .order_by("pk")
    )


def study_progress(study) -> dict:
    return {
        "sessions": session_counts(study),
        "votes": votes_per_stimulus(study),
        "qc_reasons": qc_reason_counts(study),
    }
