"""`python manage.py expire_sessions [--study SLUG]`: close crowd sessions past their timeout.

Rater pages and new entries expire overdue sessions as they meet them; this command does it for
all at once (e.g. from cron), so that the dashboard and exports show them as abandoned.
"""

from django.core.management import BaseCommand, CommandError

from annotation import sessions
from annotation.models import Session, Study


class Command(BaseCommand):
    help = "Abandon (or complete, when every clip has its answers) sessions past their timeout."

    def add_arguments(self, parser):
        parser.add_argument("--study", help="slug of one study (default: every study)")

    def handle(self, *args, study=None, **options):
        chosen = None
        if study is not None:
            chosen = Study.objects.filter(slug=study).first()
            if chosen is None:
                raise CommandError(f"no study with the slug {study!r}")
        outcome = sessions.sessions_expire_overdue(study=chosen)
        abandoned = outcome[Session.Status.ABANDONED]
        completed = outcome[Session.Status.COMPLETED]
        self.stdout.write(f"abandoned {abandoned} session(s), completed {completed}")
