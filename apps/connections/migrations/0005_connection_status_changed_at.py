import django.utils.timezone
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce


def estimate_from_last_check(apps, schema_editor):
    """Existing rows: the last health check (else the last write) is the best known time of their status."""
    Connection = apps.get_model("connections", "Connection")
    Connection.objects.update(status_changed_at=Coalesce(F("health_checked_at"), F("modified_at")))


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0004_connection_refresh_due"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="status_changed_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="When the status last changed: how long it has been failing.",
            ),
        ),
        migrations.RunPython(estimate_from_last_check, migrations.RunPython.noop),
    ]
