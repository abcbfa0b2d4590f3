"""Read-side queries for jobs: which jobs a requester may see, and how many wait before a job."""

from django.db.models import QuerySet

from .models import Job
from .services import Owner


def jobs_visible_to(owner: Owner) -> QuerySet[Job]:
    """Staff see every job; a user sees theirs; an anonymous visitor sees their session's jobs."""
    if owner.is_staff:
        return Job.objects.all()
    if owner.user is not None and owner.user.is_authenticated:
        return Job.objects.filter(owner=owner.user)
    if owner.session_key:
        return Job.objects.filter(owner__isnull=True, owner_session=owner.session_key)
    return Job.objects.none()


def jobs_ahead(job: Job) -> int:
    """Queued jobs created before `job` that wait for the same worker queue (GPU or CPU)."""
    from workers.tasks import queue_of_kind  # the routing is the worker app's

    queue = queue_of_kind(job.kind)
    kinds = [kind for kind in Job.Kind.values if queue_of_kind(kind) == queue]
    return Job.objects.filter(
        status=Job.Status.QUEUED, kind__in=kinds, created_at__lt=job.created_at
    ).count()
