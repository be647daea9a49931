"""Staff-only writes: the Support role, and the console actions that wrap a domain service with an audit
row naming the staff member (the request's IP is added by the audit context).

The Support role: sees everything a customer's problem touches and runs the repair actions, but never
changes applications, connector configs or API keys and never sees a secret (no page shows one anyway).

The group is kept in step on every `migrate` (post_migrate: permissions only exist once every app has
migrated), so a new model's view permission reaches Support without a hand-written data migration.
"""

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet

from apps.audit.services import audit_record
from apps.connect.links import authorization_url
from apps.connections.exceptions import ConnectError
from apps.connections.models import Connection, RefreshEvent
from apps.connections.services import connection_check_health, connection_refresh_credentials

SUPPORT_GROUP = "Support"
VIEWABLE_APPS = ["api", "tenants", "catalog", "connections", "connect", "webhooks", "audit", "sandbox"]
# Running the console actions: check health, refresh, disconnect, reconnect link, sync on/off (connections),
# resend (webhooks) and revoking a customer token (api) need the change permission on those models only.
OPERATE_PERMISSIONS = [
    ("connections", "change_connection"),
    ("webhooks", "change_webhookdelivery"),
    ("api", "change_customertoken"),
]


class ReconnectLinkUnavailable(ConnectError):
    code = "reconnect_link_unavailable"
    message = "This connection is authenticated, so it has no reconnect link. Disconnect it first."
    status = 409
    title = "No reconnect link"
    resolution = "Disconnect the connection first; the customer then reconnects through the new link."


def support_permissions() -> QuerySet[Permission]:
    operate = Q()
    for app_label, codename in OPERATE_PERMISSIONS:
        operate |= Q(content_type__app_label=app_label, codename=codename)
    viewable = Q(content_type__app_label__in=VIEWABLE_APPS, codename__startswith="view_")
    return Permission.objects.filter(viewable | operate)


def support_group_sync() -> Group:
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(support_permissions())
    return group


def support_group_sync_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.label == "console":
        support_group_sync()


def connection_check_health_by_staff(*, connection: Connection, actor: str) -> Connection:
    """The scheduled health check, run now (connection_check_health), with a record of who asked."""
    checked = connection_check_health(connection_id=connection.pk)
    audit_record(
        action="connection.health_checked",
        target=checked,
        actor=actor,
        data={"status": checked.status, "health": checked.health_status_code},
    )
    return checked


def connection_refresh_by_staff(*, connection: Connection, actor: str) -> Connection:
    """A forced token refresh through the same single-flight service the API's refresh_policy=force uses.
    The attempt is audited whether or not the provider accepts it."""
    try:
        refreshed = connection_refresh_credentials(
            connection_id=connection.pk, force=True, trigger=RefreshEvent.Trigger.ADMIN
        )
    except ConnectError as exc:
        audit_record(action="connection.refresh_forced", target=connection, actor=actor, data={"outcome": exc.code})
        raise
    audit_record(action="connection.refresh_forced", target=refreshed, actor=actor, data={"outcome": "refreshed"})
    return refreshed


def connection_reconnect_link_by_staff(*, connection: Connection, actor: str) -> str:
    """The link that lets the customer authenticate again; only a connection waiting for its customer has
    one (disconnect first otherwise). Handing it out is audited: whoever holds it can reconnect the account."""
    url = authorization_url(connection)
    if url is None:
        raise ReconnectLinkUnavailable()
    audit_record(action="connection.reconnect_link_copied", target=connection, actor=actor)
    return url
