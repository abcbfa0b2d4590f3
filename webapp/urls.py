"""Site URLs; the Gradio demo at /demo/ is mounted beside Django in webapp.asgi."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webapp.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/demo/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("api/jobs/", include("webapp.jobs.urls")),
    path("admin/evaluations/", include("webapp.jobs.dashboard_urls")),  # before the admin's own
    path("admin/", admin.site.urls),
    path("study/", include("annotation.urls")),
]
