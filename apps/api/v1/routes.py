"""Native v1 API: customers, connect sessions, providers, connector configs, connections."""

from datetime import timedelta

from ninja import Field, Query, Router, Schema, Status

from apps.api.auth import CUSTOMER_SCOPED, actor_for
from apps.api.errors import UnknownProvider
from apps.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, keyset_page, keyset_split, paginate_keyset
from apps.api.selectors import customer_token_get
from apps.api.services import customer_delete, customer_token_create, customer_token_revoke
from apps.api.v1.common import (
    ERRORS,
    READ_ERRORS,
    connection_read,
    connections_visible,
    ensure_own_customer,
    ensure_secrets_allowed,
    fresh_rows,
    get_connection_or_404,
    record_secrets_read,
    render,
)
from apps.api.v1.schemas import (
    ApplicationOut,
    ApplicationPatchIn,
    AuthType,
    ConnectionCreateIn,
    ConnectionOut,
    ConnectionPage,
    ConnectionPatchIn,
    ConnectionStatus,
    ConnectorConfigIn,
    ConnectorConfigOut,
    ConnectorConfigPatch,
    ConnectSessionIn,
    ConnectSessionOut,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    CustomerTokenIn,
    CustomerTokenOut,
    Expand,
    ProviderOut,
    RefreshPolicy,
    present_application,
    present_connection,
    present_connector_config,
    present_customer,
    present_provider,
)
from apps.catalog.selectors import (
    connector_config_get,
    connector_config_get_by_id,
    connector_config_list,
    provider_get,
    provider_list,
)
from apps.catalog.services import connector_config_upsert
from apps.connect.services import connect_session_create, connect_session_url
from apps.connections.selectors import connection_page_rows, connector_config_for_new_connection
from apps.connections.services import connection_create, connection_delete, connection_update
from apps.core.errors import Conflict, NotFound
from apps.tenants.selectors import customer_get, customer_list
from apps.tenants.services import application_update, customer_create, customer_get_or_create

router = Router()


# --- customers ---------------------------------------------------------------------------------------


class PageQuery(Schema):
    cursor: str | None = Field(None, description="next_cursor from the previous page.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _customer_or_404(request, external_id: str):
    customer = customer_get(application=request.auth.application, external_id=external_id)
    if customer is None:
        raise NotFound("Customer not found.")
    return customer


@router.post("/customers", response={201: CustomerOut, **ERRORS}, tags=["customers"])
def create_customer(request, payload: CustomerIn):
    customer = customer_create(
        application=request.auth.application,
        external_id=payload.external_id,
        name=payload.name,
        email=payload.email,
        metadata=payload.metadata,
        actor=actor_for(request),
    )
    return Status(201, present_customer(customer))


@router.get("/customers", response={200: CustomerPage, **READ_ERRORS}, tags=["customers"])
def list_customers(request, page: Query[PageQuery]):
    rows, next_cursor = paginate_keyset(
        customer_list(application=request.auth.application), cursor=page.cursor, limit=page.limit
    )
    return {"items": [present_customer(c) for c in rows], "next_cursor": next_cursor}


@router.get("/customers/{external_id}", response={200: CustomerOut, **READ_ERRORS}, tags=["customers"])
def get_customer(request, external_id: str):
    return present_customer(_customer_or_404(request, external_id))


@router.delete("/customers/{external_id}", response={204: None, **READ_ERRORS}, tags=["customers"])
def delete_customer(request, external_id: str):
    """Deletes the customer and all its connections (their stored secrets go with them)."""
    customer_delete(customer=_customer_or_404(request, external_id), actor=actor_for(request))
    return Status(204, None)


@router.post("/customers/{external_id}/tokens", response={201: CustomerTokenOut, **ERRORS}, tags=["customer tokens"])
def create_customer_token(request, external_id: str, payload: CustomerTokenIn):
    """A short-lived token for your frontend: it reads only this customer's connections (native and
    compat endpoints, never credentials) and creates connect sessions for this customer; every other
    operation answers 403 to it. Shown once; only its hash is stored. Revoke it with DELETE."""
    token, raw = customer_token_create(
        customer=_customer_or_404(request, external_id),
        ttl=timedelta(seconds=payload.ttl_seconds),
        actor=actor_for(request),
    )
    body = {"id": token.pk, "token": raw, "customer_id": external_id, "expires_at": token.expires_at}
    return Status(201, body)


@router.delete("/customer-tokens/{token_id}", response={204: None, **READ_ERRORS}, tags=["customer tokens"])
def revoke_customer_token(request, token_id: str):
    token = customer_token_get(application=request.auth.application, token_id=token_id)
    if token is None:
        raise NotFound("Customer token not found.")
    customer_token_revoke(token=token, actor=actor_for(request))
    return Status(204, None)


# --- the application ----------------------------------------------------------------------------------


@router.get("/application", response={200: ApplicationOut, **READ_ERRORS}, tags=["application"])
def get_application(request):
    """The application this API key belongs to: its widget origins and webhook URL."""
    return present_application(request.auth.application)


@router.patch("/application", response={200: ApplicationOut, **ERRORS}, tags=["application"])
def update_application(request, payload: ApplicationPatchIn):
    """Set the origins allowed to embed the connect widget (the list is replaced) and the webhook URL."""
    changes = payload.model_dump(exclude_unset=True)
    application = application_update(
        application=request.auth.application,
        allowed_origins=changes.get("allowed_origins"),
        webhook_url=changes.get("webhook_url"),
        actor=actor_for(request),
    )
    return present_application(application)


# --- connect sessions ----------------------------------------------------------------------------------


@router.post("/connect-sessions", response={201: ConnectSessionOut, **ERRORS}, tags=["connect"], auth=CUSTOMER_SCOPED)
def create_connect_session(request, payload: ConnectSessionIn):
    """With a customer token, `customer_id` must be the token's own customer."""
    ensure_own_customer(request, payload.customer_id)
    application = request.auth.application
    for name in payload.allowed_providers:
        if provider_get(name=name) is None:
            raise UnknownProvider(name)
    customer = customer_get_or_create(
        application=application, external_id=payload.customer_id, name=payload.customer_name
    )
    session, token = connect_session_create(
        application=application,
        customer=customer,
        allowed_providers=payload.allowed_providers or None,
        allowed_origin=payload.allowed_origin,
        return_url=payload.return_url,
        ttl_seconds=payload.ttl_seconds,
        actor=actor_for(request),
    )
    return Status(
        201,
        {
            "id": session.pk,
            "token": token,
            "url": connect_session_url(token),
            "customer_id": customer.external_id,
            "allowed_providers": list(session.allowed_providers or []),
            "expires_at": session.expires_at,
        },
    )


# --- providers ---------------------------------------------------------------------------------------


class ProviderFilters(Schema):
    search: str = Field("", max_length=100)
    category: str = Field("", max_length=50)
    auth_type: AuthType | None = None


@router.get("/providers", response={200: list[ProviderOut], **READ_ERRORS}, tags=["providers"])
def list_providers(request, filters: Query[ProviderFilters]):
    providers = provider_list(search=filters.search, category=filters.category, auth_type=filters.auth_type or "")
    return [present_provider(p) for p in providers]


@router.get("/providers/{name}", response={200: ProviderOut, **READ_ERRORS}, tags=["providers"])
def get_provider(request, name: str):
    provider = provider_get(name=name)
    if provider is None:
        raise NotFound("Provider not found.")
    return present_provider(provider)


# --- connector configs -------------------------------------------------------------------------------


@router.get("/connector-configs", response={200: list[ConnectorConfigOut], **READ_ERRORS}, tags=["connector configs"])
def list_connector_configs(request):
    return [present_connector_config(c) for c in connector_config_list(application=request.auth.application)]


@router.post("/connector-configs", response={201: ConnectorConfigOut, **ERRORS}, tags=["connector configs"])
def create_connector_config(request, payload: ConnectorConfigIn):
    application = request.auth.application
    provider = provider_get(name=payload.provider)
    if provider is None:
        raise UnknownProvider(payload.provider)
    if connector_config_get(application=application, provider=provider) is not None:
        raise Conflict(f"A connector config for {provider.name!r} already exists; PATCH it instead.")
    config = connector_config_upsert(
        application=application,
        provider=provider,
        client_id=payload.client_id,
        client_secret=payload.client_secret,
        scopes=payload.scopes,
        default_settings=payload.default_settings,
        is_enabled=payload.is_enabled,
        actor=actor_for(request),
    )
    return Status(201, present_connector_config(config, provider=provider))


@router.patch(
    "/connector-configs/{config_id}", response={200: ConnectorConfigOut, **ERRORS}, tags=["connector configs"]
)
def update_connector_config(request, config_id: str, payload: ConnectorConfigPatch):
    config = connector_config_get_by_id(application=request.auth.application, config_id=config_id)
    if config is None:
        raise NotFound("Connector config not found.")
    changes = payload.model_dump(exclude_unset=True)
    config = connector_config_upsert(
        application=request.auth.application,
        provider=config.provider,
        client_id=changes.get("client_id"),
        client_secret=changes.get("client_secret"),
        scopes=changes.get("scopes"),
        default_settings=changes.get("default_settings"),
        is_enabled=changes.get("is_enabled"),
        actor=actor_for(request),
    )
    return present_connector_config(config)


# --- connections -------------------------------------------------------------------------------------


class ConnectionListQuery(Schema):
    customer_id: str | None = Field(None, description="Your external id for the customer.")
    provider: str | None = None
    status: ConnectionStatus | None = None
    category: str | None = None
    cursor: str | None = Field(None, description="next_cursor from the previous page.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    include_secrets: bool = False
    refresh_policy: RefreshPolicy = RefreshPolicy.NONE
    expand: list[Expand] = Field(default_factory=list)


class ConnectionGetQuery(Schema):
    include_secrets: bool = False
    refresh_policy: RefreshPolicy = RefreshPolicy.AUTO
    expand: list[Expand] = Field(default_factory=list)


def _expand(values) -> frozenset[str]:
    return frozenset(str(v) for v in values)


@router.get(
    "/connections",
    response={200: ConnectionPage, **READ_ERRORS},
    exclude_unset=True,
    tags=["connections"],
    auth=CUSTOMER_SCOPED,
)
def list_connections(request, query: Query[ConnectionListQuery]):
    """Newest first, keyset-paginated. Credentials are only present with include_secrets=true."""
    ensure_secrets_allowed(request, query.include_secrets)
    if query.customer_id:
        ensure_own_customer(request, query.customer_id)
    expand = _expand(query.expand)
    connections = connections_visible(
        request,
        provider_name=query.provider or None,
        status=query.status or None,
        category=query.category or None,
    )
    if query.customer_id:
        connections = connections.filter(customer__external_id=query.customer_id)
    page = connection_page_rows(
        keyset_page(connections, cursor=query.cursor, limit=query.limit),
        with_connector_config=Expand.CONNECTOR in expand,
        with_credentials=query.include_secrets,
    )
    rows, next_cursor = keyset_split(page, limit=query.limit)
    rows = fresh_rows(request, rows, query.refresh_policy)
    if query.include_secrets and rows:
        record_secrets_read(request, *rows, via="api.v1.list_connections")
    items = [present_connection(c, include_secrets=query.include_secrets, expand=expand) for c in rows]
    return render({"items": items, "next_cursor": next_cursor})


@router.get(
    "/connections/{connection_id}",
    response={200: ConnectionOut, **READ_ERRORS},
    exclude_unset=True,
    tags=["connections"],
    auth=CUSTOMER_SCOPED,
)
def get_connection(request, connection_id: str, query: Query[ConnectionGetQuery]):
    connection = connection_read(
        request,
        connection_id,
        refresh_policy=query.refresh_policy,
        include_secrets=query.include_secrets,
        via="api.v1.get_connection",
    )
    return present_connection(connection, include_secrets=query.include_secrets, expand=_expand(query.expand))


@router.post("/connections", response={201: ConnectionOut, **ERRORS}, exclude_unset=True, tags=["connections"])
def create_connection(request, payload: ConnectionCreateIn):
    """OAuth providers: open the returned authorization_url. API-key providers: send `credentials`."""
    application = request.auth.application
    provider = provider_get(name=payload.provider)
    if provider is None:
        raise UnknownProvider(payload.provider)
    # Before the customer is created: a refused connection leaves no customer behind either.
    config = connector_config_for_new_connection(application=application, provider=provider)
    customer = customer_get_or_create(application=application, external_id=payload.customer_id)
    connection = connection_create(
        application=application,
        customer=customer,
        provider=provider,
        connector_config=config,
        display_name=payload.display_name,
        settings=payload.settings,
        metadata=payload.metadata,
        credentials=payload.credentials,
        actor=actor_for(request),
    )
    return Status(201, present_connection(connection))


@router.patch(
    "/connections/{connection_id}", response={200: ConnectionOut, **ERRORS}, exclude_unset=True, tags=["connections"]
)
def update_connection(request, connection_id: str, payload: ConnectionPatchIn):
    connection = get_connection_or_404(request, connection_id)
    changes = payload.model_dump(exclude_unset=True)
    connection = connection_update(
        connection=connection,
        display_name=changes.get("display_name"),
        settings=changes.get("settings"),
        metadata=changes.get("metadata"),
        is_sync_disabled=changes.get("is_sync_disabled"),
        actor=actor_for(request),
    )
    return present_connection(connection)


@router.delete("/connections/{connection_id}", response={204: None, **READ_ERRORS}, tags=["connections"])
def delete_connection(request, connection_id: str):
    connection_delete(connection=get_connection_or_404(request, connection_id), actor=actor_for(request))
    return Status(204, None)
