from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='provider',
            name='auth_type',
            field=models.CharField(choices=[('oauth2', 'OAuth 2.0'), ('oauth2_client_credentials', 'OAuth 2.0 client credentials'), ('api_key', 'API key'), ('basic', 'Username and password')], max_length=32),
        ),
        migrations.AlterField(
            model_name='provider',
            name='stage',
            field=models.CharField(choices=[('alpha', 'Alpha'), ('beta', 'Beta'), ('ga', 'Generally available')], default='ga', max_length=8),
        ),
    ]
