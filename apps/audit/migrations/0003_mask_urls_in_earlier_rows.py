"""Audit rows written before URLs were kept to scheme and host (3a2384e) still hold whole webhook and logo
URLs, tokens included: rewrite them as rows are written now. Rows already in that form stay as they are."""

from django.db import migrations

from apps.audit.services import audit_url, update_audit_data

# The fields and rows as they were when those rows were written; frozen here, whatever the code says later.
APPLICATION_URL_FIELDS = ("webhook_url", "logo_url")
BATCH_SIZE = 500


def _masked_application_update(data: dict) -> dict | None:
    changes = data.get("changes") or {}
    values = [value for name in APPLICATION_URL_FIELDS for value in changes.get(name) or []]
    if all(value == audit_url(value) for value in values):
        return None
    return {**data, **update_audit_data(changes, url_fields=APPLICATION_URL_FIELDS)}


def _masked_resend(data: dict) -> dict | None:
    url = data.get("url")
    if not url or url == audit_url(url):
        return None
    return {**data, "url": audit_url(url)}


MASKERS = {"application.updated": _masked_application_update, "webhook_delivery.resent": _masked_resend}


def mask_urls(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    changed = []
    for row in AuditEvent.objects.filter(action__in=MASKERS).only("id", "action", "data").iterator(BATCH_SIZE):
        masked = MASKERS[row.action](row.data or {})
        if masked is not None:
            row.data = masked
            changed.append(row)
        if len(changed) >= BATCH_SIZE:
            AuditEvent.objects.bulk_update(changed, ["data"])
            changed.clear()
    AuditEvent.objects.bulk_update(changed, ["data"])


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_labels")]

    operations = [migrations.RunPython(mask_urls, migrations.RunPython.noop, elidable=True)]
