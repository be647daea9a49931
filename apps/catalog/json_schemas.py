"""JSON Schemas (draft 2020-12) generated from a catalog entry, for API clients that build forms from them
(OpenInt's `connector.schemas`): what a connection's settings hold and what a connector config takes."""

from apps.catalog.models import Provider

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OAUTH_AUTH_TYPES = {"oauth2", "oauth2_client_credentials"}
# Catalog setting types -> JSON Schema type and format.
SETTING_TYPES = {
    "string": ("string", None),
    "url": ("string", "uri"),
    "uuid": ("string", "uuid"),
    "boolean": ("boolean", None),
    "integer": ("integer", None),
}


def _setting_properties(provider: Provider) -> dict:
    properties = {}
    for spec in provider.settings_spec:
        json_type, json_format = SETTING_TYPES[spec["type"]]
        prop: dict = {"type": json_type, "title": spec["label"]}
        if json_format:
            prop["format"] = json_format
        if spec.get("help"):
            prop["description"] = spec["help"]
        if spec.get("pattern"):
            prop["pattern"] = spec["pattern"]
        if spec.get("enum"):
            prop["enum"] = list(spec["enum"])
        if spec.get("default") is not None:
            prop["default"] = spec["default"]
        if spec.get("example") is not None:
            prop["examples"] = [spec["example"]]
        if spec.get("source") == "provider":
            prop["readOnly"] = True  # filled from the provider's token response or callback
        properties[spec["name"]] = prop
    return properties


def connection_settings_schema(provider: Provider) -> dict:
    """A connection's `settings`; with secrets included, OAuth credentials sit under `oauth.credentials`
    and API-key / Basic credential fields beside the settings."""
    properties = _setting_properties(provider)
    if provider.auth_type in OAUTH_AUTH_TYPES:
        properties["oauth"] = {
            "type": "object",
            "description": "Only with include_secrets=true.",
            "properties": {"credentials": {"type": "object", "description": "The provider's token response."}},
            "readOnly": True,
        }
    for field in (provider.definition.get("credentials") or {}).get("fields") or []:
        properties[field["name"]] = {
            "type": "string",
            "title": field["label"],
            "description": (field.get("help") or field["label"]) + " Returned only with include_secrets=true.",
            "writeOnly": field.get("secret", True),
        }
    return {
        "$schema": DRAFT,
        "title": f"{provider.display_name} connection settings",
        "type": "object",
        "properties": properties,
        "required": provider.required_setting_names,
    }


def connector_config_schema(provider: Provider) -> dict:
    """What an application sets for this provider (POST/PATCH /api/v1/connector-configs)."""
    properties: dict = {
        "is_enabled": {"type": "boolean", "default": True},
        "default_settings": {
            "type": "object",
            "title": "Defaults for every new connection's settings",
            "properties": _setting_properties(provider),
        },
    }
    required = []
    if provider.auth_type in OAUTH_AUTH_TYPES:
        scopes = [s["scope"] for s in provider.scopes]
        properties["client_id"] = {"type": "string", "minLength": 1, "title": "OAuth client id"}
        properties["client_secret"] = {
            "type": "string",
            "minLength": 1,
            "title": "OAuth client secret",
            "writeOnly": True,
        }
        properties["scopes"] = {
            "type": "array",
            "title": "Scopes to request",
            "items": {"type": "string", "enum": scopes} if scopes else {"type": "string"},
            "uniqueItems": True,
        }
        required = ["client_id", "client_secret"]
    return {
        "$schema": DRAFT,
        "title": f"{provider.display_name} connector config",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
