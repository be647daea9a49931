"""The one NinjaAPI: native v1 plus the Stuut, OpenInt and Supaglue compatibility surfaces.

Mounted at /api/ (config/urls.py): OpenAPI at /api/openapi.json, docs at /api/docs. Every operation
authenticates with an application API key, the customer-scoped ones also with a customer token
(apps/api/auth.py); every error is {"error": {"code", "message", "details", "title", "resolution"}}
(apps/api/errors.py).
"""

from ninja import NinjaAPI

from apps.api.auth import ApiKeyAuth
from apps.api.compat.openint import router as openint_router
from apps.api.compat.stuut import router as stuut_router
from apps.api.compat.supaglue import router as supaglue_router
from apps.api.errors import register_exception_handlers
from apps.api.v1.routes import router as v1_router
from apps.api.v1.webhooks import router as v1_webhooks_router

api = NinjaAPI(
    title="Patchbay API",
    version="1.0.0",
    description=(
        "Connect your customers' accounts at third-party services. Authenticate with "
        '`Authorization: Bearer <api key>`. Errors are `{"error": {"code", "message", "details", "title", '
        '"resolution"}}`: `code` is stable, `resolution` says what to do next. '
        "Compatibility surfaces for Stuut, OpenInt and Supaglue clients live under /api/compat/<product>."
    ),
    urls_namespace="api",
    auth=ApiKeyAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)
register_exception_handlers(api)

api.add_router("/v1/", v1_router)
api.add_router("/v1/", v1_webhooks_router)
api.add_router("/compat/stuut/", stuut_router)
api.add_router("/compat/openint/", openint_router)
api.add_router("/compat/supaglue/", supaglue_router)
