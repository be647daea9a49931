"""Two callbacks racing with one state: the compare-and-set lets exactly one of them exchange the code."""

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections, transaction
from django.utils import timezone

from apps.connect.exceptions import StateUsed
from apps.connect.models import OAuthAttempt
from apps.connect.services import oauth_attempt_claim, oauth_attempt_start

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_claims_of_one_state_let_exactly_one_through(acme_connection):
    """All four callbacks have read the unused attempt before any of them may write (the test holds the
    row's write lock meanwhile), so only the compare-and-set on `used_at IS NULL` can stop the others."""
    state = parse_qs(urlsplit(oauth_attempt_start(connection=acme_connection)).query)["state"][0]
    outcomes = []

    def claim():
        try:
            oauth_attempt_claim(provider_name="acme-oauth", state=state)
            outcomes.append("claimed")
        except StateUsed:
            outcomes.append("used")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    with transaction.atomic():
        OAuthAttempt.objects.select_for_update().filter(connection=acme_connection).update(modified_at=timezone.now())
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # every claimer reads the attempt (unused) and then waits on the lock to write
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "used", "used", "used"]
