"""Admin for jobs: staff see every job with its traceback, and can cancel jobs."""

from django.contrib import admin

from . import services
from .models import Job, WorkerHeartbeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "model_id", "status", "progress", "owner", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("id", "model_id", "owner__username")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel_jobs"]

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            services.job_cancel(job=job)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "last_seen")
