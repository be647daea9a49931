"""How a connection looks to the person in the portal: one badge, one line of explanation."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apps.connect.links import start_path
from apps.connections.models import Connection

POLLING_BADGES = {"pending", "checking"}


@dataclass(frozen=True)
class Badge:
    key: str
    label: str
    hint: str


def connection_badge(connection: Connection) -> Badge:
    if connection.status == Connection.Status.DISCONNECTED:
        return Badge("disconnected", "Disconnected", "Reconnect to restore access.")
    if connection.is_authentication_pending:
        return Badge("pending", "Pending", "Sign in at the provider to finish connecting.")
    if connection.missing_settings:
        return Badge("needs-settings", "Needs settings", "A few settings are still missing.")
    if connection.status == Connection.Status.ERROR or connection.health_authentication_required:
        hint = connection.health_suggested_resolution or connection.health_message or "Reconnect to fix it."
        return Badge("error", "Error", hint[:200])
    if connection.status == Connection.Status.UNKNOWN:
        return Badge("checking", "Checking", "Checking the connection…")
    if connection.status == Connection.Status.UNVERIFIED:
        hint = f"Saved, but {connection.provider.display_name} offers no request to check it works."
        return Badge("unverified", "Unverified", hint)
    return Badge("healthy", "Healthy", "Connected and working.")


def portal_rows(connections: Iterable[Connection]) -> tuple[list[dict], bool]:
    """Rows for the portal's list and whether the list should keep polling (something still pending)."""
    rows: list[dict[str, Any]] = []
    for connection in connections:
        badge = connection_badge(connection)
        start = start_path(connection) if badge.key == "pending" else ""
        rows.append({"connection": connection, "badge": badge, "start_path": start})
    return rows, any(row["badge"].key in POLLING_BADGES for row in rows)
