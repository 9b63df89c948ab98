"""Twenty reviewers claiming at once on PostgreSQL never share a sample."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from annotations import review_services
from annotations.models import Dataset, Sample


@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_over_a_hundred_samples_never_share_one():
    if connection.vendor != "postgresql":
        pytest.skip("the race is only meaningful on PostgreSQL (SQLite serialises writers)")
    ds = Dataset.objects.create(name="Race", source="folder")
    Sample.objects.bulk_create([Sample(dataset=ds, external_id=f"s{i}", label="acne", state=Sample.State.NEEDS_EXPERT)
                                for i in range(100)])
    users = [get_user_model().objects.create_user(username=f"r{i}") for i in range(20)]
    start = threading.Barrier(20)
    taken: dict[str, list[int]] = {u.username: [] for u in users}
    errors: list[BaseException] = []

    def work(user) -> None:
        try:
            start.wait()
            while True:
                sample = review_services.claim_next(user)
                if sample is None:
                    return
                taken[user.username].append(sample.pk)
                # Done with it: out of the queue, claim released.
                Sample.objects.filter(pk=sample.pk).update(state=Sample.State.EXPERT_ACCEPTED, claimed_by=None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    all_taken = [pk for ids in taken.values() for pk in ids]
    assert len(all_taken) == len(set(all_taken)) == 100
    assert sum(1 for ids in taken.values() if ids) > 1  # the work really was spread
