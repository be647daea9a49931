"""Refresh across real processes: a Celery worker killed mid-refresh, readers in two processes."""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connect.links import authorization_url
from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from tests.connections.conftest import make_provider
from tests.connections.readers import GO, READY, read_concurrently
from tests.factories import ConnectionFactory, ConnectorConfigFactory
from tests.processes import ROOT, Broker, celery_worker, pool_children, process_env, wait_for
from tests.provider_server import RotatingTokenEndpoint

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds pool processes through /proc"),
]

REFRESH_TASK = "apps.connections.tasks.refresh_connection_credentials"
SWEEP_TASK = "apps.connections.tasks.refresh_expiring_credentials"


def _due_connection(application, customer, provider) -> Connection:
    past = timezone.now() - timedelta(seconds=5)
    return ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider,
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        credentials={"access_token": "at-0", "refresh_token": "rt-0"},
        credentials_expires_at=past,
        refresh_due_at=past,
        last_refreshed_at=past - timedelta(hours=1),
    )


def _rotating_connection(application, customer, fake_provider, index: int, *, reuse_seconds: int):
    """Its own provider entry and token path, so each connection has its own rotating endpoint."""
    path = f"/token/{index}"
    provider = make_provider(
        f"rotating-{index}",
        fake_provider.url,
        oauth={
            "token_url": fake_provider.url + path,
            "token_quirks": {"refresh_token_rotates": True, "refresh_token_reuse_seconds": reuse_seconds},
        },
    )
    ConnectorConfigFactory(application=application, provider=provider)
    endpoint = RotatingTokenEndpoint(current="rt-0", reuse_seconds=reuse_seconds)
    fake_provider.on("POST", path, body=endpoint)
    return _due_connection(application, customer, provider), endpoint, path


def test_a_worker_killed_after_the_provider_answered_loses_no_connection(
    tmp_path, fake_provider, application, customer
):
    """kill -9 of the pool process that sent the refresh, after the provider rotated the refresh token and
    before the answer was saved, 10 rounds with a reuse grace (the connection recovers) and 3 without
    (refresh_interrupted, once)."""
    application.webhook_url = "https://hooks.acme.test/patchbay"
    application.save()
    graceful = [_rotating_connection(application, customer, fake_provider, i, reuse_seconds=300) for i in range(10)]
    strict = [_rotating_connection(application, customer, fake_provider, 10 + i, reuse_seconds=0) for i in range(3)]
    broker = Broker(tmp_path)
    with celery_worker(broker, tmp_path / "worker.log", PATCHBAY_PROVIDER_TIMEOUT_SECONDS="1") as worker:
        wait_for(lambda: pool_children(worker), timeout=60, what="the worker's pool process")
        kills = []

        def kill_the_refreshing_process(endpoint):
            def kill():
                if endpoint not in kills:
                    kills.append(endpoint)
                    for pid in pool_children(worker):
                        os.kill(pid, signal.SIGKILL)

            return kill

        for _connection, endpoint, _path in graceful + strict:
            endpoint.before_answer = kill_the_refreshing_process(endpoint)
        for connection, _endpoint, _path in graceful + strict:
            broker.send(REFRESH_TASK, connection.pk)

        def settled() -> bool:
            rows = {c.pk: c for c in Connection.objects.filter(pk__in=[c.pk for c, _, _ in graceful + strict])}
            recovered = all(
                rows[c.pk].status == Connection.Status.HEALTHY and rows[c.pk].refresh_started_at is None
                for c, _, _ in graceful
            )
            interrupted = all(rows[c.pk].health_status_code == "refresh_interrupted" for c, _, _ in strict)
            if not (recovered and interrupted):
                broker.send(SWEEP_TASK)  # what beat does every minute, here every two seconds
            return recovered and interrupted

        wait_for(settled, timeout=180, interval=2, what=f"recovery (worker log: {tmp_path / 'worker.log'})")
        assert len(kills) == 13, "every round killed the pool process mid-refresh"
        assert worker.poll() is None and pool_children(worker), "the worker survived with a live pool"

    for connection, endpoint, path in graceful:
        stored = Connection.objects.get(pk=connection.pk)
        assert endpoint.grants == 1, "the resend inside the grace window got the same rotation, not a new one"
        assert stored.credentials["refresh_token"] == endpoint.current == "rt-1"
        assert stored.credentials_expires_at > timezone.now() + timedelta(minutes=50)
        assert stored.refresh_failure_count <= 1 and not stored.is_authentication_pending
    for connection, _endpoint, path in strict:
        stored = Connection.objects.get(pk=connection.pk)
        assert len(fake_provider.calls(path)) == 1, "no resend of a refresh token the provider has retired"
        assert stored.status == Connection.Status.DISCONNECTED and stored.is_authentication_pending
        assert authorization_url(stored)
        assert AuditEvent.objects.filter(action="connection.refresh_interrupted", target_id=connection.pk).count() == 1
    disconnected = WebhookDelivery.objects.filter(application=application, event_type="connection.disconnected")
    assert disconnected.count() == len(strict)


def test_fifty_readers_in_two_processes_mixing_auto_and_force_make_one_token_request(
    tmp_path, fake_provider, application, customer
):
    provider = make_provider(
        "rotating-shared", fake_provider.url, oauth={"token_quirks": {"refresh_token_rotates": True}}
    )
    ConnectorConfigFactory(application=application, provider=provider)
    endpoint = RotatingTokenEndpoint(current="rt-0")
    fake_provider.on("POST", "/token", body=endpoint, delay=1.0)
    connection = _due_connection(application, customer, provider)
    other = subprocess.Popen(
        [sys.executable, "-m", "tests.connections.readers", connection.pk, "25"],
        cwd=ROOT,
        env=process_env(Broker(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def both_processes_ready() -> None:
        """Runs once this process's readers have their row: wait for the other's, then release both."""
        for line in other.stdout:
            if line.strip() == READY:
                other.stdin.write(GO + "\n")
                other.stdin.flush()
                return
        raise RuntimeError("the other process ended before its readers were ready")

    here = read_concurrently(connection.pk, 25, both_processes_ready)
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    there = json.loads(out.strip().splitlines()[-1])
    assert here + there == ["at-1"] * 50, (here, there)
    assert endpoint.grants == 1 and len(fake_provider.calls("/token")) == 1


def test_the_refresh_task_retries_a_failed_refresh_after_its_backoff(tmp_path, fake_provider, application, customer):
    """With no beat running, only the task's own retry can bring the token back after a provider 503."""
    provider = make_provider("flaky-crm", fake_provider.url)
    ConnectorConfigFactory(application=application, provider=provider)
    endpoint = RotatingTokenEndpoint(current="rt-0")
    answers = iter([(503, {"error": "temporarily_unavailable"})])
    fake_provider.on("POST", "/token", body=lambda request: next(answers, None) or endpoint(request))
    connection = _due_connection(application, customer, provider)
    broker = Broker(tmp_path)
    with celery_worker(broker, tmp_path / "worker.log", PATCHBAY_REFRESH_RETRY_BASE_SECONDS="1"):
        broker.send(REFRESH_TASK, connection.pk)
        wait_for(
            lambda: Connection.objects.filter(pk=connection.pk, credentials_expires_at__gt=timezone.now()).exists(),
            timeout=60,
            what=f"the retried refresh (worker log: {tmp_path / 'worker.log'})",
        )
    stored = Connection.objects.get(pk=connection.pk)
    assert len(fake_provider.calls("/token")) == 2 and endpoint.grants == 1
    assert stored.status == Connection.Status.HEALTHY and stored.refresh_failure_count == 0
