"""Every Patchbay ModelAdmin, grouped by area. Admin writes and actions call the owning app's services."""

from apps.console.admin import api, audit, catalog, connect, connections, sandbox, tenants, webhooks

__all__ = ["api", "audit", "catalog", "connect", "connections", "sandbox", "tenants", "webhooks"]
