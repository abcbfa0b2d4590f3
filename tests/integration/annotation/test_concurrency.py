"""Concurrent raters on PostgreSQL: simultaneous double submits store once, one entry per rater."""

import random
import threading

import pytest
from django.db import connection

from annotation import design, errors, responses, services, sessions
from annotation.models import Rater, Response
from tests.unit.annotation.factories import watched

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def at_once(n, work):
    """Run `work(i)` in n threads released together; return results or raised exceptions."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread met
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def study():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts need PostgreSQL")
    study = services.study_create(
        slug="conc", title="C", stimuli_per_session=4, votes_per_stimulus=50
    )
    for s in ["a", "b"]:
        for u in range(8):
            services.stimulus_add(study=study, path=None, system=s, utterance_id=f"u{u}")
    return study


def test_simultaneous_identical_submits_store_one_response(study):
    session = sessions.rater_enter(
        study=study, platform="link", external_id="r", rng=random.Random(0)
    )
    item = watched(session, session.items.first())
    results = at_once(
        8,
        lambda i: responses.response_record(session=session, item=item, answers={"realness": 3}),
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Response.objects.count() == 1
    assert True in results


def test_simultaneous_plays_stop_at_the_study_limit(study):
    study.max_plays = 3
    study.save()
    session = sessions.rater_enter(
        study=study, platform="link", external_id="r", rng=random.Random(0)
    )
    item = session.items.select_related("stimulus").first()
    results = at_once(8, lambda i: responses.play_record(session=session, item=item, event="play"))
    refused = [r for r in results if isinstance(r, errors.PlayRefused)]
    assert (len(refused), len(results) - len(refused)) == (5, 3)
    item.refresh_from_db()
    assert item.plays == 3


def test_simultaneous_entries_of_one_rater_make_one_session(study):
    results = at_once(
        6, lambda i: sessions.rater_enter(study=study, platform="link", external_id="same")
    )
    refused = [r for r in results if isinstance(r, errors.AlreadyParticipated)]
    assert len(refused) == 5
    assert Rater.objects.count() == 1


def test_simultaneous_raters_spread_over_the_blocks(study):
    n_blocks = len(design.study_blocks(study))
    entered = at_once(
        n_blocks, lambda i: sessions.rater_enter(study=study, platform="link", external_id=f"r{i}")
    )
    assert sorted(s.block for s in entered) == list(range(n_blocks))
