"""Every Patchbay ModelAdmin, grouped by area.

Deletes, actions, adds and edits call the owning app's services (applications, API keys, customers,
connections, synced models, connector configs), each leaving an audit row naming the staff member; an edit's
row names the fields that changed with their old and new values, never a secret.
"""

from apps.console.admin import api, audit, catalog, connect, connections, sandbox, tenants, webhooks

__all__ = ["api", "audit", "catalog", "connect", "connections", "sandbox", "tenants", "webhooks"]
