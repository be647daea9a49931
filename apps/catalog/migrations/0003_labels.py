import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0002_provider_choice_labels'),
    ]

    operations = [
        migrations.AlterField(
            model_name='connectorconfig',
            name='client_id',
            field=models.CharField(blank=True, max_length=500, verbose_name='client ID'),
        ),
        migrations.AlterField(
            model_name='connectorconfig',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('ccfg'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='connectorconfig',
            name='is_enabled',
            field=models.BooleanField(default=True, verbose_name='enabled'),
        ),
        migrations.AlterField(
            model_name='provider',
            name='is_enabled',
            field=models.BooleanField(default=True, help_text='False when its catalog file was removed.', verbose_name='enabled'),
        ),
    ]
