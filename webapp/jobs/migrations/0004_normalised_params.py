"""Stored params in the normalised form that the worker now reads without parsing them again:
rows from before were kept as sent (corrupt) or with the defaults left out (generate)."""

from django.db import migrations

from modelzoo.errors import UserError
from webapp.jobs.kinds import parse_params


def normalise_params(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    for job in Job.objects.exclude(status__in=["succeeded", "failed", "cancelled"]).iterator():
        try:
            normalised = parse_params(job.kind, job.params)
        except UserError:
            continue  # checked when it was sent under older rules: its run names the problem
        if normalised != job.params:
            Job.objects.filter(pk=job.pk).update(params=normalised)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0003_evaluate_kind")]

    operations = [migrations.RunPython(normalise_params, migrations.RunPython.noop)]
