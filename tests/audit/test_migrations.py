"""Audit rows written before URLs were kept to scheme and host lose the tokens their URLs carried."""

import pytest

from tests.audit.stored import audit_table_text
from tests.migrations import migrate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("back_to_latest")]

BEFORE = [("audit", "0002_labels")]
AFTER = [("audit", "0003_mask_urls_in_earlier_rows")]
TOKENS = ("hook-user", "userinfo-secret", "path-secret", "query-secret", "logo-signature", "resend-secret")


def test_earlier_rows_keep_their_urls_to_scheme_and_host_and_still_say_what_changed():
    AuditEvent = migrate(BEFORE).get_model("audit", "AuditEvent")
    edit = AuditEvent.objects.create(
        action="application.updated",
        actor="staff:root",
        target_type="application",
        target_id="app_1",
        data={
            "fields": ["logo_url", "name", "webhook_url"],
            "changes": {
                "name": ["Acme", "Acme Inc"],
                "webhook_url": [
                    "https://hooks.example/in/path-secret",
                    "https://hook-user:userinfo-secret@hooks.example/in?token=query-secret",
                ],
                "logo_url": ["", "https://cdn.example/logo.png?sig=logo-signature"],
            },
        },
    )
    resend = AuditEvent.objects.create(
        action="webhook_delivery.resent",
        actor="staff:root",
        target_type="webhookdelivery",
        target_id="whd_2",
        data={"resent_from": "whd_1", "url": "https://hooks.example/in?token=resend-secret"},
    )
    already_kept = {
        "fields": ["webhook_url"],
        "changes": {"webhook_url": ["https://a.example/…", "https://b.example/…?…"]},
        "url_parts_changed": {"webhook_url": ["path", "query"]},
    }
    written_since = AuditEvent.objects.create(
        action="application.updated",
        actor="api_key:key_1",
        target_type="application",
        target_id="app_1",
        data=already_kept,
    )

    AuditEvent = migrate(AFTER).get_model("audit", "AuditEvent")
    assert AuditEvent.objects.get(pk=edit.pk).data == {
        "fields": ["logo_url", "name", "webhook_url"],
        "changes": {
            "name": ["Acme", "Acme Inc"],
            "webhook_url": ["https://hooks.example/…", "https://…@hooks.example/…?…"],
            "logo_url": ["", "https://cdn.example/…?…"],
        },
        "url_parts_changed": {"webhook_url": ["userinfo", "path", "query"], "logo_url": ["path", "query"]},
    }
    assert AuditEvent.objects.get(pk=resend.pk).data == {"resent_from": "whd_1", "url": "https://hooks.example/…?…"}
    assert AuditEvent.objects.get(pk=written_since.pk).data == already_kept
    stored = audit_table_text()
    assert not [token for token in TOKENS if token in stored]
