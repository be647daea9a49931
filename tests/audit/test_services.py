import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
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
