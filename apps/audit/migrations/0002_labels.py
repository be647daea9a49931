import apps.core.ids
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='id',
            field=models.CharField(default=apps.core.ids.PrefixedId('evt'), editable=False, max_length=40, primary_key=True, serialize=False, verbose_name='ID'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='target_id',
            field=models.CharField(db_index=True, max_length=40, verbose_name='target ID'),
        ),
    ]
