import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_connection_from_model(apps, schema_editor):
    SyncRun = apps.get_model("connections", "SyncRun")
    ConnectionModel = apps.get_model("connections", "ConnectionModel")
    SyncRun.objects.filter(connection__isnull=True).update(
        connection_id=Subquery(ConnectionModel.objects.filter(pk=OuterRef("model_id")).values("connection_id")[:1])
    )


class Migration(migrations.Migration):
    """Runs gain their connection in two steps (nullable and filled here, required in 0009): PostgreSQL
    cannot alter a table with rows updated earlier in the same transaction."""

    dependencies = [("connections", "0007_refresh_event")]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="connection",
            field=models.ForeignKey(
                editable=False,
                help_text="The model's connection, stored so a connection's runs are one indexed read.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="sync_runs",
                to="connections.connection",
            ),
        ),
        migrations.RunPython(copy_connection_from_model, migrations.RunPython.noop),
    ]
