import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0002_delivery_lease_latency_excerpt_resend'),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookdelivery',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('whd'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='url',
            field=models.URLField(max_length=500, verbose_name='URL'),
        ),
    ]
