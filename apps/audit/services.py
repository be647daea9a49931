"""The audit trail's one writer. A request-scoped context adds the client's IP to every row a request writes,
so services record who did what from where without each signature carrying the request."""

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, cast
from urllib.parse import SplitResult, urlsplit

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


_HIDDEN_URL_PARTS = ("userinfo", "path", "query", "fragment")


def update_audit_data(changes: dict[str, list[Any]], *, url_fields: Collection[str] = ()) -> dict[str, Any]:
    """What an "updated" audit row records: the changed fields, sorted, and their old → new values. The values
    of `url_fields` are recorded as `audit_url` shows them, and `url_parts_changed` names, per such field,
    the hidden parts that differ (so a changed token still reads as a change, and where)."""
    shown = dict(changes)
    hidden_changes = {}
    for name in url_fields:
        if name in changes:
            old, new = changes[name]
            shown[name] = [audit_url(old), audit_url(new)]
            if parts := _hidden_parts_changed(old, new):
                hidden_changes[name] = parts
    data = {"fields": sorted(changes), "changes": shown}
    if hidden_changes:
        data["url_parts_changed"] = hidden_changes
    return data


def audit_url(url: str) -> str:
    """A URL as an audit row may hold it: its scheme, host and port, with "…" where anything else stood
    (`https://…@hooks.example.com/…?…`). A webhook URL often carries the receiver's token in its userinfo, path
    or query (a Slack hook's path, `?token=`), a file URL a signature, and an audit row never holds a secret."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "…"
    if not parts.scheme or not parts.hostname:
        return "…"
    hidden = _hidden_parts(parts)
    return "".join(
        [
            f"{parts.scheme}://",
            "…@" if hidden["userinfo"] else "",
            parts.netloc.rpartition("@")[2].lower(),
            "/…" if hidden["path"] else parts.path,
            "?…" if hidden["query"] else "",
            "#…" if hidden["fragment"] else "",
        ]
    )


def _hidden_parts(parts: SplitResult) -> dict[str, str]:
    """The parts of a URL an audit row does not show, "" where the URL has none ("/" is no path)."""
    userinfo, at, _ = parts.netloc.rpartition("@")
    return {
        "userinfo": userinfo + at,
        "path": "" if parts.path in {"", "/"} else parts.path,
        "query": parts.query,
        "fragment": parts.fragment,
    }


def _hidden_parts_changed(old: str, new: str) -> list[str]:
    try:
        before, after = _hidden_parts(urlsplit(old or "")), _hidden_parts(urlsplit(new or ""))
    except ValueError:
        return list(_HIDDEN_URL_PARTS)
    return [part for part in _HIDDEN_URL_PARTS if before[part] != after[part]]


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
