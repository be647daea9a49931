import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connections', '0008_syncrun_connection'),
    ]

    operations = [
        migrations.AlterField(
            model_name="syncrun",
            name="connection",
            field=models.ForeignKey(
                editable=False,
                help_text="The model's connection, stored so a connection's runs are one indexed read.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="sync_runs",
                to="connections.connection",
            ),
        ),
        migrations.AlterModelOptions(
            name='connectionmodel',
            options={'ordering': ['name'], 'verbose_name': 'synced model'},
        ),
        migrations.AlterModelOptions(
            name='refreshevent',
            options={'ordering': ['-finished_at', '-id'], 'verbose_name': 'token refresh', 'verbose_name_plural': 'token refreshes'},
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_custom_object',
            field=models.BooleanField(default=False, verbose_name='custom object'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_file_upload_enabled',
            field=models.BooleanField(default=False, verbose_name='file uploads'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_read_enabled',
            field=models.BooleanField(default=True, verbose_name='reads'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_read_supported',
            field=models.BooleanField(default=True, verbose_name='provider supports reads'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_sync_supported',
            field=models.BooleanField(default=True, verbose_name='provider supports sync'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_webhooks_setup',
            field=models.BooleanField(default=False, verbose_name='provider webhooks set up'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_write_enabled',
            field=models.BooleanField(default=False, verbose_name='writes'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='is_write_supported',
            field=models.BooleanField(default=False, verbose_name='provider supports writes'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='next_sync_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='next sync'),
        ),
        migrations.AlterField(
            model_name='refreshevent',
            name='finished_at',
            field=models.DateTimeField(db_index=True, verbose_name='finished'),
        ),
        migrations.AlterField(
            model_name='refreshevent',
            name='is_resend',
            field=models.BooleanField(default=False, help_text='The request repeated one whose answer was lost, with the same refresh token.', verbose_name='resend'),
        ),
        migrations.AlterField(
            model_name='refreshevent',
            name='started_at',
            field=models.DateTimeField(verbose_name='started'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='batch_id',
            field=models.UUIDField(default=uuid.uuid4, verbose_name='batch ID'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='completed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='completed'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='entity_id',
            field=models.CharField(blank=True, max_length=100, null=True, verbose_name='entity ID'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='file_id',
            field=models.CharField(blank=True, max_length=100, null=True, verbose_name='file ID'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='is_initial_sync',
            field=models.BooleanField(default=False, verbose_name='initial sync'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='is_one_off',
            field=models.BooleanField(default=False, verbose_name='one-off'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='started_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='started'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='timerange_end',
            field=models.DateTimeField(blank=True, null=True, verbose_name='until'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='timerange_start',
            field=models.DateTimeField(blank=True, null=True, verbose_name='from'),
        ),
        migrations.AddIndex(
            model_name='syncrun',
            index=models.Index(fields=['connection', '-created_at'], name='sync_run_connection'),
        ),
    ]
