import django.db.models.deletion
from django.db import migrations, models

import apps.core.ids


def content_type_moves_to_audit(apps, schema_editor):
    """Existing permissions (the Support group's) and admin log entries follow the model to its new app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="auditevent").exists():
        ContentType.objects.filter(app_label="core", model="auditevent").update(app_label="audit")


def content_type_moves_back_to_core(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="core", model="auditevent").exists():
        ContentType.objects.filter(app_label="audit", model="auditevent").update(app_label="core")


class Migration(migrations.Migration):
    """Takes over core's audit table with its rows: the model is declared on the existing table, which is
    then renamed, so no row is copied or lost."""

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_audit_event_ip_address_survives_application"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.CharField(
                                default=apps.core.ids.PrefixedId("evt"),
                                editable=False,
                                max_length=40,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        (
                            "actor",
                            models.CharField(
                                help_text="api_key:<id>, staff:<username>, customer:<id> or system", max_length=200
                            ),
                        ),
                        ("action", models.CharField(db_index=True, max_length=100)),
                        ("target_type", models.CharField(max_length=50)),
                        ("target_id", models.CharField(db_index=True, max_length=40)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        (
                            "ip_address",
                            models.GenericIPAddressField(
                                blank=True,
                                help_text="The client address of the request that caused it.",
                                null=True,
                                verbose_name="IP address",
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="when")),
                        (
                            "application",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="audit_events",
                                to="tenants.application",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "audit event",
                        "ordering": ["-created_at"],
                        "db_table": "core_auditevent",
                        "indexes": [
                            models.Index(fields=["application", "-created_at"], name="core_audite_applica_fc36f0_idx")
                        ],
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="auditevent", table=None),
        migrations.RenameIndex(
            model_name="auditevent", new_name="audit_audit_applica_3c4978_idx", old_name="core_audite_applica_fc36f0_idx"
        ),
        migrations.RunPython(content_type_moves_to_audit, content_type_moves_back_to_core),
    ]
