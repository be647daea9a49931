import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, audit_url, update_audit_data
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_audit_record_names_target_and_application():
    application = ApplicationFactory()
    event = audit_record(
        action="thing.done", target=application, application=application, actor="staff:ann", data={"k": 1}
    )
    assert AuditEvent.objects.get(pk=event.pk).application == application
    assert (event.target_type, event.target_id, event.actor) == ("application", application.pk, "staff:ann")
    assert str(event) == f"thing.done application:{application.pk}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("", ""),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("https://hooks.example.com/", "https://hooks.example.com/"),
        ("https://Hooks.Example.com:8443/services/T0/B0/XXXX", "https://hooks.example.com:8443/…"),
        ("https://hooks.example.com/in?token=abc", "https://hooks.example.com/…?…"),
        ("https://hooks.example.com?token=abc", "https://hooks.example.com?…"),
        ("https://user:pw@hooks.example.com/#frag", "https://…@hooks.example.com/#…"),
        ("hooks.example.com/secret", "…"),
        ("http://[::1/secret", "…"),
    ],
)
def test_an_audited_url_keeps_its_scheme_host_and_port_only(url, shown):
    assert audit_url(url) == shown


def test_update_audit_data_hides_url_parts_and_names_the_hidden_parts_that_changed():
    changes = {
        "name": ["Old", "New"],
        "webhook_url": ["https://hooks.example.com/T0/old", "https://hooks.example.com/T0/new?token=abc"],
        "logo_url": ["https://old.example.com/logo.png", "https://new.example.com/logo.png"],
    }
    assert update_audit_data(changes, url_fields=["webhook_url", "logo_url", "unchanged_url"]) == {
        "fields": ["logo_url", "name", "webhook_url"],
        "changes": {
            "name": ["Old", "New"],
            "webhook_url": ["https://hooks.example.com/…", "https://hooks.example.com/…?…"],
            "logo_url": ["https://old.example.com/…", "https://new.example.com/…"],
        },
        "url_parts_changed": {"webhook_url": ["path", "query"]},
    }
    assert update_audit_data({"name": ["Old", "New"]}, url_fields=["webhook_url"]) == {
        "fields": ["name"],
        "changes": {"name": ["Old", "New"]},
    }
