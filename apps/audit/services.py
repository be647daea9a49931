"""The audit trail's one writer. A request-scoped context adds the client's IP to every row a request writes,
so services record who did what from where without each signature carrying the request."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, cast

from django.db import models
from django.db.models.options import Options

from apps.audit.models import AuditEvent

_request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)


@contextmanager
def audit_request_context(*, ip_address: str | None) -> Iterator[None]:
    token = _request_ip.set(ip_address or None)
    try:
        yield
    finally:
        _request_ip.reset(token)


def assign_changes(row: models.Model, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set on `row` each of `values` that is not None (None leaves a field as it is) and return
    `{field: [old, new]}` for those that differ, in the order given: what an "updated" audit row records.
    Callers pass non-secret fields holding JSON values only: a vault field never comes here."""
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        old = getattr(row, name)
        if value is not None and value != old:
            setattr(row, name, value)
            changes[name] = [old, value]
    return changes


def update_audit_data(changes: dict[str, list[Any]]) -> dict[str, Any]:
    return {"fields": sorted(changes), "changes": changes}


def audit_record(
    *,
    action: str,
    target: models.Model,
    actor: str = "system",
    application: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = _audit_event(action=action, target=target, actor=actor, application=application, data=data)
    event.save(force_insert=True)
    return event


class AuditTarget(Protocol):
    """A model instance, or a read-only row that stands for one (a list page's connections)."""

    @property
    def pk(self) -> Any: ...

    @property
    def _meta(self) -> "Options[Any]": ...


def audit_record_many(
    *,
    action: str,
    targets: Sequence[AuditTarget],
    actor: str = "system",
    application: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> list[AuditEvent]:
    """One audit row per target, written in one INSERT (a page of secrets read is one statement, not 100)."""
    return AuditEvent.objects.bulk_create(
        [
            _audit_event(action=action, target=target, actor=actor, application=application, data=data)
            for target in targets
        ]
    )


def _audit_event(
    *,
    action: str,
    target: models.Model | AuditTarget,
    actor: str,
    application: models.Model | None,
    data: dict[str, Any] | None,
) -> AuditEvent:
    # The audit layer sits below tenants, so the application is any model here (tenants.Application in practice).
    return AuditEvent(
        application_id=application.pk if application is not None else getattr(target, "application_id", None),
        actor=actor,
        action=action,
        target_type=cast(str, target._meta.model_name),  # None only before a model class is built
        target_id=str(target.pk),
        data=data or {},
        ip_address=_request_ip.get(),
    )
