"""Read-side queries for jobs: which jobs a requester may see, and the finished generations that
crowd studies take their clips from (the annotation app reads jobs only through these)."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from .models import Job
from .owners import Owner


def jobs_visible_to(owner: Owner) -> QuerySet[Job]:
    """Staff see every job; a user sees theirs; an anonymous visitor sees their session's jobs."""
    if owner.is_staff:
        return Job.objects.all()
    if owner.user is not None and owner.user.is_authenticated:
        return Job.objects.filter(owner=owner.user)
    if owner.session_key:
        return Job.objects.filter(owner__isnull=True, owner_session=owner.session_key)
    return Job.objects.none()


def finished_generations() -> QuerySet[Job]:
    """Succeeded generate jobs, oldest first: the clips a study may take as stimuli."""
    return Job.objects.filter(kind=Job.Kind.GENERATE, status=Job.Status.SUCCEEDED).order_by(
        "created_at"
    )


def job_or_none(job) -> Job | None:
    """A job given as itself or by its id; None for an unknown or malformed id."""
    if isinstance(job, Job):
        return job
    try:
        return Job.objects.filter(pk=job).first() if job else None
    except ValidationError:  # not a UUID
        return None
