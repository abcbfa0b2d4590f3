"""Read-side queries for jobs: which jobs a requester may see."""

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
