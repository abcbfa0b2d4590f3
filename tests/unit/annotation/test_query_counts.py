"""Database queries per rater request on the hot path (the load bench's answer, page and play
requests), pinned so that a change that adds a query per response shows up here.

Answer post: Django's session row, the clip with its session and study, the study's questions,
the count of stored answers, one INSERT .. ON CONFLICT DO NOTHING, the next clip.
No row is locked and no transaction spans round trips. The counts do not grow with the number
of questions or clips.
"""

import re

import pytest
from django.test import Client

from annotation import services
from annotation.models import Response, Session

from .factories import grid
from .test_views import watch

ANSWER_QUERIES = 6
PAGE_QUERIES = 4
PLAY_QUERIES = 3


@pytest.fixture(params=[1, 3], ids=["1-question", "3-questions"])
def questions(request):
    return [{"key": f"q{i}", "prompt": f"Question {i}?"} for i in range(request.param)]


@pytest.fixture
def rater(db, questions):
    """A browser on the first clip of a started 6-clip session: (client, session, clip URL)."""
    study = services.study_create(
        slug="hot",
        title="Hot path",
        platform="link",
        stimuli_per_session=6,
        votes_per_stimulus=5,
        questions=questions,
    )
    grid(study, ["sysA", "sysB"], [f"u{i}" for i in range(6)])
    client = Client()
    client.get("/study/hot/")
    client.post("/study/hot/", {"consent": "yes"})
    session = Session.objects.get()
    client.post(f"/study/s/{session.pk}/instructions/")
    return client, session, client.get(f"/study/s/{session.pk}/")["Location"]


def answers(session):
    return {q.key: 3 for q in session.study.questions.all()}


def test_answer_post_runs_a_fixed_number_of_queries(rater, django_assert_num_queries):
    client, session, url = rater
    watch(client, url)
    form = answers(session)
    with django_assert_num_queries(ANSWER_QUERIES):
        response = client.post(url, form)
    assert re.search(r"/clip/[^/]+/$", response["Location"])
    assert Response.objects.count() == session.study.questions.count()


def test_repeated_answer_post_runs_no_more_queries(rater, django_assert_max_num_queries):
    client, session, url = rater
    watch(client, url)
    form = answers(session)
    client.post(url, form)
    with django_assert_max_num_queries(ANSWER_QUERIES):
        client.post(url, form)


def test_trial_page_runs_a_fixed_number_of_queries(rater, django_assert_num_queries):
    client, _, url = rater
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(url).status_code == 200


def test_play_report_runs_a_fixed_number_of_queries(rater, django_assert_num_queries):
    client, _, url = rater
    with django_assert_num_queries(PLAY_QUERIES):
        assert client.post(f"{url}play/", {"event": "play"}).status_code == 200
