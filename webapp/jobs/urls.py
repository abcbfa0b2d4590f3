"""URLs of the jobs API, under /api/jobs/."""

from django.urls import path

from . import api

app_name = "jobs"
urlpatterns = [
    path("", api.job_collection, name="collection"),
    path("<uuid:job_id>/", api.job_detail, name="detail"),
    path("<uuid:job_id>/cancel/", api.job_cancel, name="cancel"),
    path("<uuid:job_id>/outputs/<str:name>", api.job_output, name="output"),
]
