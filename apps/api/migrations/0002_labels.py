import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0001_customer_token'),
    ]

    operations = [
        migrations.AlterField(
            model_name='customertoken',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('ctok'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
    ]
