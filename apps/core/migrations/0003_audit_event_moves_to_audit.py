from django.db import migrations


class Migration(migrations.Migration):
    """AuditEvent now belongs to the audit app, which takes over the table (see audit/0001_initial)."""

    dependencies = [
        ("core", "0002_audit_event_ip_address_survives_application"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditEvent")]),
    ]
