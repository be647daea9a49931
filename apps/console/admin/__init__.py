"""Every Patchbay ModelAdmin, grouped by area.

Deletes and actions call the owning app's services, and so do adding or editing a connection or a connector
config and adding an application or an API key. Other adds and edits (customers, synced models, an existing
application's or API key's fields) are the admin's own save, recorded in Django's change log.
"""

from apps.console.admin import api, audit, catalog, connect, connections, sandbox, tenants, webhooks

__all__ = ["api", "audit", "catalog", "connect", "connections", "sandbox", "tenants", "webhooks"]
