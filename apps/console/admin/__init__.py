"""Every Patchbay ModelAdmin, grouped by area. Admin writes and actions call the owning app's services."""

from apps.console.admin import audit, catalog, connect, connections, sandbox, tenants, webhooks

__all__ = ["audit", "catalog", "connect", "connections", "sandbox", "tenants", "webhooks"]
