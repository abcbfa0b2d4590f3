"""URLs of the staff evaluation pages, under /admin/evaluations/."""

from django.urls import path

from . import dashboard

app_name = "evaluations"
urlpatterns = [
    path("", dashboard.evaluations, name="list"),
    path("<uuid:job_id>/", dashboard.evaluation, name="detail"),
]
