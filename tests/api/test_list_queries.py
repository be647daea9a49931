"""Every list endpoint answers in a fixed number of statements at 10 and 1,000 rows, on the first page, a
deep page and with include_secrets; the keyset cursor walks the same rows as offset paging."""

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.api.pagination import encode_cursor
from apps.audit.models import AuditEvent
from apps.connections.models import Connection, ConnectionModel
from apps.tenants.services import api_key_create
from tests.api.conftest import ApiClient
from tests.factories import provider_for

pytestmark = pytest.mark.django_db

# Statements per list request: the page query carries everything (OpenInt's capped total too) but
# Supaglue's customer lookup and, past the end of OpenInt's list, the count that no row can carry;
# include_secrets adds the one audit INSERT. A key the process has not seen in the last minute adds its
# lookup; a cold worker adds one query for the page's provider definitions (then cached per catalog
# version).
LIST_QUERIES = {"native": 1, "stuut": 1, "openint": 1, "openint past the end": 2, "supaglue": 2}


def seed(application, customer, count: int, *, same_created_at_every: int = 1) -> list[Connection]:
    """`count` connections with one synced model each; rows come in groups sharing one created_at."""
    start = timezone.now() - timedelta(days=1)
    providers = [provider_for("ms-dynamics-bc"), provider_for("hubspot")]
    connections = Connection.objects.bulk_create(
        [
            Connection(
                application=application,
                customer=customer,
                provider=providers[n % 2],
                is_authentication_pending=False,
                status="healthy",
                credentials={"access_token": f"token-{n}"},
                created_at=start + timedelta(seconds=n // same_created_at_every),
            )
            for n in range(count)
        ]
    )
    ConnectionModel.objects.bulk_create(
        [ConnectionModel(connection=c, name="contacts", display_name="Contacts") for c in connections]
    )
    # auto_now_add overrode created_at; put the grouped instants back.
    for n, connection in enumerate(connections):
        connection.created_at = start + timedelta(seconds=n // same_created_at_every)
    Connection.objects.bulk_update(connections, ["created_at"], batch_size=500)
    return connections


def deep_cursor(application) -> str:
    created_at, pk = (
        Connection.objects.filter(application=application).order_by("created_at", "id").values_list("created_at", "id")
    )[5]
    return encode_cursor(created_at, pk)


def list_paths(application, customer) -> dict[str, str]:
    total = Connection.objects.filter(application=application).count()
    deep = total - 5
    return {
        "native first": "/api/v1/connections?limit=100",
        "native deep": f"/api/v1/connections?limit=100&cursor={deep_cursor(application)}",
        "native secrets": "/api/v1/connections?limit=100&include_secrets=true",
        "native deep secrets": f"/api/v1/connections?limit=100&include_secrets=true&cursor={deep_cursor(application)}",
        "stuut all": "/api/compat/stuut/v2/integrations/connections",
        "stuut deep": f"/api/compat/stuut/v2/integrations/connections?limit=100&offset={deep}",
        "openint first": "/api/compat/openint/connection?limit=100&refresh_policy=none",
        "openint deep": f"/api/compat/openint/connection?limit=100&offset={deep}&refresh_policy=none",
        "openint deep secrets": f"/api/compat/openint/connection?limit=100&offset={deep}&refresh_policy=none"
        "&include_secrets=true",
        "openint secrets": "/api/compat/openint/connection?limit=100&refresh_policy=none&include_secrets=true",
        "openint past the end": f"/api/compat/openint/connection?limit=100&offset={total}&refresh_policy=none",
        "supaglue": f"/api/compat/supaglue/customers/{customer.external_id}/connections",
    }


def measured(client, path: str) -> tuple[object, list[str]]:
    with CaptureQueriesContext(db_connection) as ctx:
        response = client.client.get(path, headers=client.headers)
    return response, [q["sql"][:90] for q in ctx.captured_queries]


@pytest.mark.parametrize("rows", [10, 1000])
def test_every_list_runs_a_fixed_number_of_statements(rows, api, application, customer):
    seed(application, customer, rows)
    for name, path in list_paths(application, customer).items():
        secrets = "secrets" in name
        expected = LIST_QUERIES.get(name, LIST_QUERIES[name.split()[0]]) + secrets
        cold = ApiClient(api_key_create(application=application, name=name)[1])
        # The first request with a key looks it up and writes its last_used_at (once a minute); the first
        # page this process reads loads the providers' definitions.
        response, queries = measured(cold, path)
        assert response.status_code == 200, (name, response.content[:300])
        assert len(queries) <= expected + 3, (name, queries)
        audits_before = AuditEvent.objects.filter(action="connection.secrets_read").count()
        response, queries = measured(cold, path)
        assert response.status_code == 200, (name, response.content[:300])
        body = response.json()
        items = body if isinstance(body, list) else body["items"]
        assert items or name == "openint past the end", name
        assert len(queries) == expected, (name, queries)
        if secrets:
            audited = AuditEvent.objects.filter(action="connection.secrets_read").count() - audits_before
            assert audited == len(items), name


def test_keyset_cursor_walks_the_same_rows_as_offset_paging_with_equal_created_at(api, application, customer):
    seed(application, customer, 47, same_created_at_every=6)
    by_offset = [
        c["id"]
        for offset in range(0, 47, 10)
        for c in api.get("/api/compat/openint/connection", limit=10, offset=offset, refresh_policy="none").json()[
            "items"
        ]
    ]
    by_cursor, cursor = [], None
    while True:
        page = api.get("/api/v1/connections", limit=10, **({"cursor": cursor} if cursor else {})).json()
        by_cursor += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = list(
        Connection.objects.filter(application=application).order_by("-created_at", "-id").values_list("id", flat=True)
    )
    assert by_cursor == by_offset == expected and len(set(expected)) == 47


def test_openint_total_stops_counting_at_its_horizon(api, application, customer, monkeypatch):
    from apps.api.compat import openint

    seed(application, customer, 30)
    page = api.get("/api/compat/openint/connection", limit=5, refresh_policy="none").json()
    assert (page["total"], page["total_is_exact"]) == (30, True)
    past_the_end = api.get("/api/compat/openint/connection", limit=5, offset=40, refresh_policy="none").json()
    assert (past_the_end["total"], past_the_end["total_is_exact"], past_the_end["items"]) == (30, True, [])
    monkeypatch.setattr(openint, "TOTAL_COUNT_HORIZON", 10)
    page = api.get("/api/compat/openint/connection", limit=5, offset=5, refresh_policy="none").json()
    assert (page["total"], page["total_is_exact"], len(page["items"])) == (11, False, 5)
    deeper = api.get("/api/compat/openint/connection", limit=5, offset=15, refresh_policy="none").json()
    assert (deeper["total"], deeper["total_is_exact"]) == (21, False)
    last = api.get("/api/compat/openint/connection", limit=5, offset=25, refresh_policy="none").json()
    assert (last["total"], last["total_is_exact"], len(last["items"])) == (30, True, 5)
    past_the_end = api.get("/api/compat/openint/connection", limit=5, offset=100, refresh_policy="none").json()
    assert (past_the_end["total"], past_the_end["total_is_exact"], past_the_end["items"]) == (10, False, [])
