"""URLs of crowd studies, under /study/: rater pages, clips by token, staff dashboard and API."""

from django.urls import path

from . import api, dashboard, views

app_name = "annotation"
urlpatterns = [
    path("dashboard/", dashboard.index, name="dashboard"),
    path("dashboard/<slug:slug>/", dashboard.study, name="dashboard-study"),
    path("dashboard/<slug:slug>/qc/", dashboard.qc_rerun, name="dashboard-qc"),
    path("dashboard/<slug:slug>/lipread/", dashboard.lipread, name="dashboard-lipread"),
    path("api/studies/", api.study_collection, name="api-studies"),
    path("api/studies/<slug:slug>/", api.study_detail, name="api-study"),
    path("api/studies/<slug:slug>/stimuli/", api.stimulus_create, name="api-stimuli"),
    path("api/studies/<slug:slug>/stimuli/from-jobs/", api.stimuli_from_jobs, name="api-from-jobs"),
    path("api/studies/<slug:slug>/results/", api.study_results, name="api-results"),
    path("api/studies/<slug:slug>/qc/", api.study_qc, name="api-qc"),
    path("api/studies/<slug:slug>/export/<str:fmt>", api.study_export, name="api-export"),
    path("api/studies/<slug:slug>/import/<str:fmt>", api.study_import, name="api-import"),
    path("s/<uuid:session_id>/", views.session_home, name="session"),
    path("s/<uuid:session_id>/qualification/", views.qualification_page, name="qualification"),
    path(
        "s/<uuid:session_id>/qualification/number.wav",
        views.qualification_audio,
        name="qualification-audio",
    ),
    path("s/<uuid:session_id>/instructions/", views.instructions, name="instructions"),
    path("s/<uuid:session_id>/clip/<str:token>/", views.trial, name="trial"),
    path("s/<uuid:session_id>/clip/<str:token>/play/", views.play, name="play"),
    path("s/<uuid:session_id>/done/", views.done, name="done"),
    path("m/<str:token>", views.media, name="media"),
    path("<slug:slug>/", views.entry, name="entry"),
]
