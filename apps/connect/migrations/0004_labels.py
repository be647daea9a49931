import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connect', '0003_widget_credential'),
    ]

    operations = [
        migrations.AlterField(
            model_name='connectsession',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('cs'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='connectsession',
            name='return_url',
            field=models.URLField(blank=True, max_length=1000, verbose_name='return URL'),
        ),
        migrations.AlterField(
            model_name='oauthattempt',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('oat'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='oauthattempt',
            name='redirect_uri',
            field=models.URLField(max_length=500, verbose_name='redirect URI'),
        ),
        migrations.AlterField(
            model_name='oauthattempt',
            name='return_url',
            field=models.URLField(blank=True, max_length=1000, verbose_name='return URL'),
        ),
    ]
