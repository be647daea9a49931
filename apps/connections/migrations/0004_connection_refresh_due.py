from datetime import timedelta

from django.db import migrations, models
from django.db.models import F


def due_five_minutes_before_expiry(apps, schema_editor):
    """Existing tokens: the old rule (five minutes early) until their next refresh applies the new one."""
    Connection = apps.get_model("connections", "Connection")
    Connection.objects.filter(credentials_expires_at__isnull=False, is_authentication_pending=False).update(
        refresh_due_at=F("credentials_expires_at") - timedelta(minutes=5)
    )


class Migration(migrations.Migration):
    dependencies = [("connections", "0003_connection_status_unverified")]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="refresh_due_at",
            field=models.DateTimeField(
                blank=True, db_index=True, editable=False, help_text="When the token is next refreshed.", null=True
            ),
        ),
        migrations.AddField(
            model_name="connection",
            name="refresh_started_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="A token request was sent and its answer is not saved yet.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="connection",
            name="refresh_failed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(due_five_minutes_before_expiry, migrations.RunPython.noop),
    ]
