import re

import pytest

from apps.core.ids import PrefixedId, new_id
from tests.factories import ApplicationFactory


def test_ids_are_prefixed_sortable_ulids():
    first, second = new_id("conn"), new_id("conn")
    assert re.fullmatch(r"conn_[0-9a-z]{26}", first)
    assert first != second
    assert PrefixedId("conn") == PrefixedId("conn") != PrefixedId("cus")
    assert PrefixedId("app")().startswith("app_")


@pytest.mark.django_db
def test_models_get_prefixed_primary_keys():
    application = ApplicationFactory()
    assert application.pk.startswith("app_")
