"""Where a connection stands: the one definition of missing settings, configured, requires setup and healthy.

Everything that shows or acts on these reads them from `lifecycle_of` (the model's properties, the
API presenters, the compat endpoints, webhook payloads). It takes plain values, so a list page can
compute it from the columns it already selected without building a model instance; `lifecycle_of_connection`
reads them off a Connection or a list page's row.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lifecycle:
    missing_settings: list[str]
    is_configured: bool
    requires_setup: bool
    is_healthy: bool


def lifecycle_of(
    *, required_settings: list[str], settings: dict | None, is_authentication_pending: bool, status: str
) -> Lifecycle:
    """A connection is configured once it is authenticated and every setting its provider requires has a
    value; healthy when it is configured and the last check said so (status "healthy")."""
    settings = settings or {}
    missing = [name for name in required_settings if settings.get(name) in (None, "")]
    is_configured = not is_authentication_pending and not missing
    return Lifecycle(
        missing_settings=missing,
        is_configured=is_configured,
        requires_setup=is_authentication_pending or bool(missing),
        is_healthy=is_configured and status == "healthy",
    )


class _RequiresSettings(Protocol):
    @property
    def required_setting_names(self) -> list[str]: ...


class LifecycleSource(Protocol):
    """What the lifecycle reads of a connection: a Connection, or a list page's ConnectionRow."""

    @property
    def provider(self) -> _RequiresSettings: ...
    @property
    def settings(self) -> dict | None: ...
    @property
    def is_authentication_pending(self) -> bool: ...
    @property
    def status(self) -> str: ...


def lifecycle_of_connection(connection: LifecycleSource) -> Lifecycle:
    return lifecycle_of(
        required_settings=connection.provider.required_setting_names,
        settings=connection.settings,
        is_authentication_pending=connection.is_authentication_pending,
        status=connection.status,
    )
