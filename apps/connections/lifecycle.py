"""Where a connection stands: the one definition of missing settings, configured, requires setup and healthy.

Everything that shows or acts on these reads them from `lifecycle_of` (the model's properties, the
API presenters, the compat endpoints, webhook payloads). It takes plain values, so a list page can
compute it from the columns it already selected without building a model instance.
"""

from dataclasses import dataclass


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
