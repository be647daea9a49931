"""The console's admin site: models grouped the way support people think about the product, and an index
page that opens on what is failing."""

from django.contrib import admin
from django.utils import timezone

from apps.console.selectors import dashboard_summary

SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Customers & connections",
        [
            "connections.connection",
            "tenants.customer",
            "api.customertoken",
            "connections.refreshevent",
            "connections.connectionmodel",
            "connections.syncrun",
            "connect.connectsession",
            "connect.oauthattempt",
        ],
    ),
    ("Webhooks", ["webhooks.webhookdelivery"]),
    ("Catalog", ["catalog.provider", "catalog.connectorconfig"]),
    ("Applications & API keys", ["tenants.application", "tenants.apikey"]),
    ("Audit", ["audit.auditevent"]),
    ("Staff & access", ["auth.user", "auth.group", "mfa.authenticator", "account.emailaddress"]),
    ("Sandbox", ["sandbox.sandboxuser"]),
]


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Patchbay console"
    site_title = "Patchbay console"
    index_title = "Overview"
    index_template = "admin/console_index.html"
    # The overview lists every section; lists need the width more than a second copy of that menu.
    enable_nav_sidebar = False

    def get_app_list(self, request, app_label=None):
        """Sections in product order (models in the order listed); an app's own page keeps Django's list."""
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        by_label = {entry["model"]._meta.label_lower: entry for app in app_list for entry in app["models"]}
        sections = []
        for name, labels in SECTIONS:
            models = [by_label.pop(label) for label in labels if label in by_label]
            if models:
                sections.append({"name": name, "app_label": models[0]["model"]._meta.app_label, "models": models})
        for app in app_list:  # anything not placed above keeps its app's own section
            rest = [entry for entry in app["models"] if entry["model"]._meta.label_lower in by_label]
            if rest:
                sections.append({**app, "models": rest})
        for section in sections:
            section["app_url"] = section["models"][0]["admin_url"]
        return sections

    def index(self, request, extra_context=None):
        return super().index(request, {"dashboard": dashboard_summary(now=timezone.now()), **(extra_context or {})})
