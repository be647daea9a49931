from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connect import services
from apps.connect.models import ConnectSession, OAuthAttempt
from apps.connect.tasks import purge_expired_attempts
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

RETENTION = services.CONNECT_ROWS_RETENTION


def make_attempt(connection, *, expired_ago: timedelta) -> OAuthAttempt:
    return OAuthAttempt.objects.create(
        connection=connection,
        provider=connection.provider,
        state_hash=f"{OAuthAttempt.objects.count():064d}",
        code_verifier={"code_verifier": "verifier"},
        redirect_uri="https://patchbay.test/connect/callback/hubspot",
        expires_at=timezone.now() - expired_ago,
    )


def make_session(connection, *, expired_ago: timedelta, credential_expired_ago: timedelta | None = None):
    now = timezone.now()
    return ConnectSession.objects.create(
        application=connection.application,
        customer=connection.customer,
        token_hash=f"{ConnectSession.objects.count():064d}",
        expires_at=now - expired_ago,
        widget_credential_expires_at=None if credential_expired_ago is None else now - credential_expired_ago,
    )


def test_only_rows_expired_longer_than_the_retention_are_deleted():
    connection = ConnectionFactory()
    old_attempt = make_attempt(connection, expired_ago=RETENTION + timedelta(minutes=1))
    recent_attempt = make_attempt(connection, expired_ago=RETENTION - timedelta(minutes=1))
    live_attempt = make_attempt(connection, expired_ago=-timedelta(minutes=5))
    old_session = make_session(connection, expired_ago=RETENTION + timedelta(hours=1))
    recent_session = make_session(connection, expired_ago=timedelta(minutes=1))

    assert services.connect_rows_purge_expired() == {"oauth_attempts": 1, "connect_sessions": 1}

    remaining_attempts = set(OAuthAttempt.objects.values_list("pk", flat=True))
    assert remaining_attempts == {recent_attempt.pk, live_attempt.pk}
    assert old_attempt.pk not in remaining_attempts
    assert set(ConnectSession.objects.values_list("pk", flat=True)) == {recent_session.pk}
    assert not ConnectSession.objects.filter(pk=old_session.pk).exists()


def test_a_session_whose_widget_credential_still_lives_is_kept():
    connection = ConnectionFactory()
    in_use = make_session(connection, expired_ago=RETENTION * 2, credential_expired_ago=-timedelta(minutes=10))
    done = make_session(connection, expired_ago=RETENTION * 2, credential_expired_ago=RETENTION * 2)

    services.connect_rows_purge_expired()

    assert list(ConnectSession.objects.values_list("pk", flat=True)) == [in_use.pk]
    assert not ConnectSession.objects.filter(pk=done.pk).exists()


def test_more_rows_than_one_batch_are_all_deleted(monkeypatch):
    monkeypatch.setattr(services, "PURGE_BATCH_SIZE", 3)
    connection = ConnectionFactory()
    for _ in range(8):
        make_attempt(connection, expired_ago=RETENTION * 2)
    kept = make_attempt(connection, expired_ago=timedelta(0))

    assert purge_expired_attempts() == {"oauth_attempts": 8, "connect_sessions": 0}
    assert list(OAuthAttempt.objects.values_list("pk", flat=True)) == [kept.pk]
    assert connection.__class__.objects.filter(pk=connection.pk).exists()
