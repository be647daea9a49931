import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0002_apikey_label'),
    ]

    operations = [
        migrations.AlterField(
            model_name='apikey',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('key'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='application',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('app'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='application',
            name='logo_url',
            field=models.URLField(blank=True, max_length=500, verbose_name='logo URL'),
        ),
        migrations.AlterField(
            model_name='application',
            name='webhook_url',
            field=models.URLField(blank=True, max_length=500, verbose_name='webhook URL'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='external_id',
            field=models.CharField(max_length=200, verbose_name='external ID'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('cus'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
    ]
