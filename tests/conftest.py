import pytest
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Every test database starts with the real provider catalog loaded."""
    with django_db_blocker.unblock():
        call_command("load_catalog", verbosity=0)
