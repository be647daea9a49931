import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connections', '0009_labels_and_syncrun_connection_required'),
    ]

    operations = [
        migrations.AlterField(
            model_name='connection',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('conn'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='connectionmodel',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('cmod'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='refreshevent',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('rfev'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('sync'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
    ]
