"""Strict schema for provider YAML files. Unknown keys, wrong types and bad URLs are errors that name
the file and the field. The validated form is a plain dict stored on Provider.definition.
"""

import re
from collections.abc import Set
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, NoReturn
from urllib.parse import urlsplit

import simple_icons_pack

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SETTING_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLOR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}$")
TEMPLATE_PATTERN = re.compile(r"\{(settings|credentials)\.([a-z][a-z0-9_]*)\}")

SIMPLE_ICONS_PREFIX = "simple-icons:"
SIMPLE_ICONS_VERSION = version("simple-icons-pack")

AUTH_TYPES = ("oauth2", "oauth2_client_credentials", "api_key", "basic")
STAGES = ("alpha", "beta", "ga")
CATEGORIES = (
    "accounting",
    "analytics",
    "ats",
    "calendar",
    "communication",
    "crm",
    "developer_tools",
    "ecommerce",
    "engagement",
    "enrichment",
    "file_storage",
    "hris",
    "marketing_automation",
    "payments",
    "productivity",
    "project_management",
    "sandbox",
    "signature",
    "ticketing",
    "video",
)
SUPAGLUE_CATEGORIES = ("crm", "engagement", "enrichment", "marketing_automation", "no_category")
SETTING_TYPES = ("string", "boolean", "integer", "url", "uuid")
CLIENT_AUTH_METHODS = ("body", "basic")
SCOPE_KINDS = ("required", "default", "optional")
HTTP_METHODS = ("GET", "POST")
# A provider served by this Patchbay (the sandbox) takes its refresh-token reuse grace from the setting its
# own token endpoint enforces, so the two cannot disagree.
SANDBOX_REFRESH_GRACE = "{sandbox_refresh_grace_seconds}"


class CatalogError(ValueError):
    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")


@dataclass(frozen=True)
class _Ctx:
    source: str

    def fail(self, field: str, message: str) -> NoReturn:
        raise CatalogError(self.source, field, message)


def _check_keys(ctx: _Ctx, path: str, data: Any, required: set[str], optional: set[str]) -> dict:
    if not isinstance(data, dict):
        ctx.fail(path or "(root)", "must be a mapping")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        ctx.fail(f"{path}.{unknown[0]}".lstrip("."), f"unknown key (allowed: {', '.join(sorted(required | optional))})")
    missing = sorted(required - set(data))
    if missing:
        ctx.fail(f"{path}.{missing[0]}".lstrip("."), "is required")
    return data


def _str(ctx: _Ctx, path: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        ctx.fail(path, "must be a non-empty string")
    return value


def _bool(ctx: _Ctx, path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        ctx.fail(path, "must be true or false")
    return value


def _enum(ctx: _Ctx, path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        ctx.fail(path, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _str_list(ctx: _Ctx, path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        ctx.fail(path, "must be a list of non-empty strings")
    return value


def _url(ctx: _Ctx, path: str, value: Any, *, templated: bool = False, setting_names: Set[str] = frozenset()) -> str:
    text = _str(ctx, path, value)
    probe = text
    if templated:
        for kind, name in TEMPLATE_PATTERN.findall(text):
            if kind == "settings" and name not in setting_names:
                ctx.fail(path, f"uses {{settings.{name}}} but no setting named {name!r} is declared")
        probe = TEMPLATE_PATTERN.sub("x", text)
    if "{" in probe or "}" in probe:
        ctx.fail(path, "has a template other than {settings.<name>} / {credentials.<name>}")
    parts = urlsplit(probe)
    if parts.scheme not in {"https", "http"} or not parts.netloc or " " in probe:
        ctx.fail(path, f"is not an absolute http(s) URL: {text!r}")
    if parts.scheme == "http" and parts.hostname not in {"localhost", "127.0.0.1"}:
        ctx.fail(path, f"must use https (plain http is only allowed for localhost): {text!r}")
    return text


def _url_or_base(ctx: _Ctx, path: str, value: Any, setting_names: Set[str]) -> str:
    """URLs may start with {base_url} for providers served by this Patchbay (the sandbox)."""
    text = _str(ctx, path, value)
    if text.startswith("{base_url}"):
        return text
    return _url(ctx, path, text, templated=True, setting_names=setting_names)


def _check_sample_values(ctx: _Ctx, path: str, setting: dict, *, provider: str) -> None:
    """An example or default the setting's own pattern or enum refuses would be shown to (or stored for) a
    customer whose form then rejects it; the settings form matches patterns with re.fullmatch, so this does."""
    for key in ("example", "default"):
        value = setting[key]
        if value is None:
            continue
        where = f"provider {provider!r} setting {setting['name']!r}"
        if setting["pattern"] and not re.fullmatch(setting["pattern"], str(value)):
            ctx.fail(f"{path}.{key}", f"{value!r} of {where} does not match its own pattern {setting['pattern']}")
        if setting["enum"] and value not in setting["enum"]:
            ctx.fail(f"{path}.{key}", f"{value!r} of {where} is not one of its enum values")


def _settings(ctx: _Ctx, data: Any, *, provider: str) -> list[dict]:
    if not isinstance(data, list):
        ctx.fail("settings", "must be a list")
    seen: set[str] = set()
    result = []
    for index, item in enumerate(data):
        path = f"settings[{index}]"
        _check_keys(
            ctx,
            path,
            item,
            {"name", "type", "label"},
            {"help", "pattern", "enum", "required", "default", "example", "ask_before_authorize", "source", "options"},
        )
        name = _str(ctx, f"{path}.name", item["name"])
        if not SETTING_NAME_PATTERN.match(name):
            ctx.fail(f"{path}.name", "must be snake_case")
        if name in seen:
            ctx.fail(f"{path}.name", f"duplicate setting {name!r}")
        seen.add(name)
        setting = {
            "name": name,
            "type": _enum(ctx, f"{path}.type", item["type"], SETTING_TYPES),
            "label": _str(ctx, f"{path}.label", item["label"]),
            "help": _str(ctx, f"{path}.help", item.get("help", ""), allow_empty=True),
            "required": _bool(ctx, f"{path}.required", item.get("required", True)),
            "ask_before_authorize": _bool(ctx, f"{path}.ask_before_authorize", item.get("ask_before_authorize", False)),
            "source": _enum(ctx, f"{path}.source", item.get("source", "user"), ("user", "provider")),
            "pattern": None,
            "enum": None,
            "default": item.get("default"),
            "example": item.get("example"),
            "options": None,
        }
        if "options" in item:
            if setting["type"] == "boolean" or setting["source"] != "user":
                ctx.fail(f"{path}.options", "only a non-boolean setting the user fills in can list options")
            setting["options"] = _setting_options(ctx, f"{path}.options", item["options"], earlier=seen - {name})
        if "pattern" in item:
            pattern = _str(ctx, f"{path}.pattern", item["pattern"])
            try:
                re.compile(pattern)
            except re.error as exc:
                ctx.fail(f"{path}.pattern", f"is not a valid regular expression: {exc}")
            setting["pattern"] = pattern
        if "enum" in item:
            setting["enum"] = _str_list(ctx, f"{path}.enum", item["enum"])
        _check_sample_values(ctx, path, setting, provider=provider)
        result.append(setting)
    _check_filled_settings(ctx, result)
    return result


def _check_filled_settings(ctx: _Ctx, settings: list[dict]) -> None:
    """A setting an options request `fills` takes the chosen option's label and is not asked for, so it must
    be free text that may stay empty (a typed value has no label) and filled by one setting only."""
    by_name = {setting["name"]: setting for setting in settings}
    filled_by: dict[str, str] = {}
    for index, setting in enumerate(settings):
        target_name = (setting["options"] or {}).get("fills")
        if target_name is None:
            continue
        path = f"settings[{index}].options.fills"
        target = by_name.get(target_name)
        if target is None or target is setting:
            ctx.fail(path, f"must name another declared setting (got {target_name!r})")
        if target_name in filled_by:
            ctx.fail(path, f"{target_name!r} is already filled by {filled_by[target_name]!r}")
        if target["type"] != "string" or target["source"] != "user" or target["required"]:
            ctx.fail(path, f"{target_name!r} must be an optional string setting the user would fill in")
        if target["pattern"] or target["enum"] or target["options"]:
            ctx.fail(path, f"{target_name!r} may not have a pattern, enum or options: it holds a label")
        filled_by[target_name] = setting["name"]


def _setting_options(ctx: _Ctx, path: str, data: Any, *, earlier: set[str]) -> dict:
    """A request listing a setting's valid values, run with the connection's token when the form shows.

    `items` is the dotted path to the list in the JSON answer ("" for a top-level list); `value` and
    `label` name fields of each item. A URL that uses another setting names it in `depends_on`, which
    must be declared earlier: the form asks for it first and reloads these options when it changes.
    `fills` names a setting that stores the chosen option's label (Business Central: the company's name).
    """
    _check_keys(ctx, path, data, {"url", "value"}, {"items", "label", "depends_on", "fills"})
    depends_on = data.get("depends_on")
    if depends_on is not None and depends_on not in earlier:
        ctx.fail(f"{path}.depends_on", f"must name a setting declared before this one (got {depends_on!r})")
    url = _url_or_base(ctx, f"{path}.url", data["url"], earlier)
    for kind, name in TEMPLATE_PATTERN.findall(url):
        if kind != "settings" or name != depends_on:
            ctx.fail(f"{path}.url", f"uses {{{kind}.{name}}}; only the depends_on setting may be templated")
    value = _str(ctx, f"{path}.value", data["value"])
    return {
        "url": url,
        "items": _str(ctx, f"{path}.items", data.get("items", ""), allow_empty=True),
        "value": value,
        "label": _str(ctx, f"{path}.label", data.get("label", value)),
        "depends_on": depends_on,
        "fills": _str(ctx, f"{path}.fills", data["fills"]) if "fills" in data else None,
    }


def _scopes(ctx: _Ctx, data: Any, setting_names: Set[str] = frozenset()) -> list[dict]:
    if not isinstance(data, list):
        ctx.fail("scopes", "must be a list")
    result, seen = [], set()
    for index, item in enumerate(data):
        path = f"scopes[{index}]"
        _check_keys(ctx, path, item, {"scope", "kind"}, {"display_name", "description"})
        scope = _str(ctx, f"{path}.scope", item["scope"])
        # A scope may name a per-connection resource, e.g. Dataverse "https://{settings.instance_host}/.default".
        for kind, name in TEMPLATE_PATTERN.findall(scope):
            if kind != "settings" or name not in setting_names:
                ctx.fail(f"{path}.scope", f"uses {{{kind}.{name}}} but only declared settings may be templated")
        if scope in seen:
            ctx.fail(f"{path}.scope", f"duplicate scope {scope!r}")
        seen.add(scope)
        result.append(
            {
                "scope": scope,
                "kind": _enum(ctx, f"{path}.kind", item["kind"], SCOPE_KINDS),
                "display_name": _str(ctx, f"{path}.display_name", item.get("display_name", scope)),
                "description": _str(ctx, f"{path}.description", item.get("description", ""), allow_empty=True),
            }
        )
    return result


TOKEN_QUIRK_KEYS = {
    "access_token_path",  # dotted path when the token is nested (Slack user tokens: authed_user.access_token)
    "scope_field",  # where granted scopes live if not "scope"
    "scope_separator",  # separator in the token response's scope string (default " ")
    "default_expires_in",  # seconds, when the provider omits expires_in but tokens do expire
    "settings_from_token",  # {token response key (dotted): setting name}, e.g. Salesforce instance_url
    "settings_from_callback",  # {callback query param: setting name}, e.g. QuickBooks realmId
    "error_field_when_ok",  # Slack answers 200 {"ok": false, "error": ...}: name the boolean field
    "refresh_token_rotates",  # provider issues a new refresh token on every refresh
    "refresh_token_reuse_seconds",  # after rotating, the previous refresh token still works this long
    "refresh_token_idle_days",  # the provider revokes a refresh token left unused this many days
    "no_refresh_token",  # long-lived tokens; never try to refresh
}


def _oauth(ctx: _Ctx, data: Any, setting_names: Set[str], auth_type: str) -> dict:
    required = {"token_url"} if auth_type == "oauth2_client_credentials" else {"authorize_url", "token_url"}
    _check_keys(
        ctx,
        "oauth",
        data,
        required,
        {
            "authorize_url",
            "refresh_url",
            "revoke_url",
            "client_auth",
            "pkce",
            "scope_separator",
            "authorize_params",
            "token_params",
            "token_quirks",
            "issuer",
        },
    )
    result: dict[str, Any] = {
        "authorize_url": None,
        "token_url": _url_or_base(ctx, "oauth.token_url", data["token_url"], setting_names),
        "refresh_url": None,
        "revoke_url": None,
        "client_auth": _enum(ctx, "oauth.client_auth", data.get("client_auth", "body"), CLIENT_AUTH_METHODS),
        "pkce": _bool(ctx, "oauth.pkce", data.get("pkce", False)),
        "scope_separator": _str(ctx, "oauth.scope_separator", data.get("scope_separator", " "), allow_empty=True)
        or " ",
        "authorize_params": {},
        "token_params": {},
        "token_quirks": {},
        "issuer": None,
    }
    if data.get("issuer") is not None:
        # RFC 9207: the authorization response's `iss` must equal this when the provider sends it.
        result["issuer"] = _url_or_base(ctx, "oauth.issuer", data["issuer"], setting_names)
    for key in ("authorize_url", "refresh_url", "revoke_url"):
        if data.get(key) is not None:
            result[key] = _url_or_base(ctx, f"oauth.{key}", data[key], setting_names)
    for key in ("authorize_params", "token_params"):
        params = data.get(key, {})
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            ctx.fail(f"oauth.{key}", "must map parameter names to strings")
        result[key] = params
    quirks = data.get("token_quirks", {})
    _check_keys(ctx, "oauth.token_quirks", quirks, set(), TOKEN_QUIRK_KEYS)
    for key in ("settings_from_token", "settings_from_callback"):
        mapping = quirks.get(key, {})
        if not isinstance(mapping, dict):
            ctx.fail(f"oauth.token_quirks.{key}", "must be a mapping")
        for target in mapping.values():
            if target not in setting_names:
                ctx.fail(f"oauth.token_quirks.{key}", f"maps to undeclared setting {target!r}")
    if "default_expires_in" in quirks and not isinstance(quirks["default_expires_in"], int):
        ctx.fail("oauth.token_quirks.default_expires_in", "must be an integer number of seconds")
    durations = ["refresh_token_idle_days"]
    if quirks.get("refresh_token_reuse_seconds") != SANDBOX_REFRESH_GRACE:
        durations.append("refresh_token_reuse_seconds")
    elif not result["token_url"].startswith("{base_url}"):
        ctx.fail("oauth.token_quirks.refresh_token_reuse_seconds", "is a number unless Patchbay serves the provider")
    for key in durations:
        if key in quirks and (not isinstance(quirks[key], int) or isinstance(quirks[key], bool) or quirks[key] < 0):
            ctx.fail(f"oauth.token_quirks.{key}", "must be a whole number, 0 or more")
    for key in ("refresh_token_rotates", "no_refresh_token"):
        if key in quirks:
            _bool(ctx, f"oauth.token_quirks.{key}", quirks[key])
    result["token_quirks"] = quirks
    return result


def _credentials(ctx: _Ctx, data: Any, auth_type: str, setting_names: Set[str]) -> dict:
    _check_keys(ctx, "credentials", data, {"fields", "inject"}, set())
    fields = data["fields"]
    if not isinstance(fields, list) or not fields:
        ctx.fail("credentials.fields", "must be a non-empty list")
    parsed_fields = []
    for index, item in enumerate(fields):
        path = f"credentials.fields[{index}]"
        _check_keys(ctx, path, item, {"name", "label"}, {"help", "secret", "pattern"})
        name = _str(ctx, f"{path}.name", item["name"])
        if not SETTING_NAME_PATTERN.match(name):
            ctx.fail(f"{path}.name", "must be snake_case")
        parsed_fields.append(
            {
                "name": name,
                "label": _str(ctx, f"{path}.label", item["label"]),
                "help": _str(ctx, f"{path}.help", item.get("help", ""), allow_empty=True),
                "secret": _bool(ctx, f"{path}.secret", item.get("secret", True)),
                "pattern": item.get("pattern"),
            }
        )
    inject = data["inject"]
    _check_keys(ctx, "credentials.inject", inject, {"in", "name", "value"}, set())
    _enum(ctx, "credentials.inject.in", inject["in"], ("header", "query", "basic"))
    _str(ctx, "credentials.inject.name", inject["name"], allow_empty=inject["in"] == "basic")
    value = _str(ctx, "credentials.inject.value", inject["value"])
    names = {f["name"] for f in parsed_fields}
    for kind, name in TEMPLATE_PATTERN.findall(value):
        if kind == "credentials" and name not in names:
            ctx.fail("credentials.inject.value", f"uses {{credentials.{name}}} but no such field is declared")
        if kind == "settings" and name not in setting_names:
            ctx.fail("credentials.inject.value", f"uses {{settings.{name}}} but no such setting is declared")
    return {"fields": parsed_fields, "inject": dict(inject)}


def _verification(ctx: _Ctx, data: Any, setting_names: Set[str]) -> dict:
    _check_keys(ctx, "verification", data, {"url"}, {"method", "expect_status", "headers", "ok_field"})
    status = data.get("expect_status", [200])
    if isinstance(status, int):
        status = [status]
    if not isinstance(status, list) or not all(isinstance(s, int) and 100 <= s < 600 for s in status):
        ctx.fail("verification.expect_status", "must be an HTTP status or a list of them")
    headers = data.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        ctx.fail("verification.headers", "must map header names to strings")
    for header, value in headers.items():
        for kind, name in TEMPLATE_PATTERN.findall(value):
            if kind == "settings" and name not in setting_names:
                ctx.fail(f"verification.headers.{header}", f"uses {{settings.{name}}} but no such setting is declared")
    return {
        "url": _url_or_base(ctx, "verification.url", data["url"], setting_names),
        "method": _enum(ctx, "verification.method", data.get("method", "GET"), HTTP_METHODS),
        "expect_status": status,
        "headers": headers,
        "ok_field": data.get("ok_field"),
    }


def _logo(ctx: _Ctx, value: Any) -> str:
    """An SVG file beside the YAML, or "simple-icons:<slug>" from the pinned simple-icons-pack package."""
    text = _str(ctx, "logo", value)
    if text.startswith(SIMPLE_ICONS_PREFIX):
        if simple_icons_pack.get_icon(text.removeprefix(SIMPLE_ICONS_PREFIX)) is None:
            ctx.fail("logo", f"{text!r} is not an icon in simple-icons-pack {SIMPLE_ICONS_VERSION}")
    elif not text.endswith(".svg"):
        ctx.fail("logo", "must be an .svg file name or simple-icons:<slug>")
    return text


def _sources(ctx: _Ctx, data: Any) -> list[str]:
    if not isinstance(data, list) or not data:
        ctx.fail("sources", "must list the pages the entry's URLs, scopes and quirks come from")
    result = []
    for index, source in enumerate(data):
        # "repo:<path>" cites Patchbay's own code, for the built-in sandbox providers.
        if isinstance(source, str) and source.startswith("repo:") and len(source) > len("repo:"):
            result.append(source)
        else:
            result.append(_url(ctx, f"sources[{index}]", source))
    return result


def _models(ctx: _Ctx, data: Any) -> list[dict]:
    if not isinstance(data, list):
        ctx.fail("models", "must be a list")
    result = []
    for index, item in enumerate(data):
        path = f"models[{index}]"
        _check_keys(ctx, path, item, {"name"}, {"display_name", "read", "write", "sync", "custom"})
        result.append(
            {
                "name": _str(ctx, f"{path}.name", item["name"]),
                "display_name": _str(ctx, f"{path}.display_name", item.get("display_name", item["name"])),
                "is_read_supported": _bool(ctx, f"{path}.read", item.get("read", True)),
                "is_write_supported": _bool(ctx, f"{path}.write", item.get("write", False)),
                "is_sync_supported": _bool(ctx, f"{path}.sync", item.get("sync", True)),
                "is_custom_object": _bool(ctx, f"{path}.custom", item.get("custom", False)),
            }
        )
    return result


TOP_REQUIRED = {"name", "display_name", "categories", "auth_type", "website", "color", "description"}
TOP_OPTIONAL = {
    "short_description",
    "stage",
    "documentation_url",
    "connection_guide_url",
    "connection_instructions",
    "logo",
    "is_webhooks_supported",
    "is_manual_sync_supported",
    "oauth",
    "scopes",
    "settings",
    "credentials",
    "verification",
    "models",
    "compat",
    "platforms",
    "sources",
}


def validate_provider(data: Any, *, source: str) -> dict:
    """Return the normalised provider definition or raise CatalogError naming `source` and the field."""
    ctx = _Ctx(source)
    _check_keys(ctx, "", data, TOP_REQUIRED, TOP_OPTIONAL)
    name = _str(ctx, "name", data["name"])
    if not NAME_PATTERN.match(name):
        ctx.fail("name", "must be lowercase letters, digits and dashes")
    auth_type = _enum(ctx, "auth_type", data["auth_type"], AUTH_TYPES)
    categories = _str_list(ctx, "categories", data["categories"])
    if not categories:
        ctx.fail("categories", "must list at least one category")
    for index, category in enumerate(categories):
        _enum(ctx, f"categories[{index}]", category, CATEGORIES)
    color = _str(ctx, "color", data["color"])
    if not COLOR_PATTERN.match(color):
        ctx.fail("color", "must be a hex colour like #1A2B3C")
    settings = _settings(ctx, data.get("settings", []), provider=name)
    setting_names = {s["name"] for s in settings}
    definition = {
        "name": name,
        "display_name": _str(ctx, "display_name", data["display_name"]),
        "description": _str(ctx, "description", data["description"]),
        "short_description": _str(
            ctx, "short_description", data.get("short_description", data["description"]), allow_empty=False
        ),
        "categories": categories,
        "auth_type": auth_type,
        "stage": _enum(ctx, "stage", data.get("stage", "ga"), STAGES),
        "website": _url(ctx, "website", data["website"]),
        "documentation_url": None,
        "connection_guide_url": None,
        "connection_instructions": _str_list(ctx, "connection_instructions", data.get("connection_instructions", [])),
        "color": color.upper(),
        "logo": data.get("logo"),
        "is_webhooks_supported": _bool(ctx, "is_webhooks_supported", data.get("is_webhooks_supported", False)),
        "is_manual_sync_supported": _bool(ctx, "is_manual_sync_supported", data.get("is_manual_sync_supported", False)),
        "platforms": _str_list(ctx, "platforms", data.get("platforms", ["web"])),
        "oauth": None,
        "scopes": _scopes(ctx, data.get("scopes", []), setting_names),
        "settings": settings,
        "credentials": None,
        "verification": None,
        "models": _models(ctx, data.get("models", [])),
        "compat": {},
        "sources": _sources(ctx, data["sources"]) if "sources" in data else [],
    }
    for key in ("documentation_url", "connection_guide_url"):
        if data.get(key) is not None:
            definition[key] = _url(ctx, key, data[key])
    if definition["logo"] is not None:
        _logo(ctx, definition["logo"])
    if auth_type in {"oauth2", "oauth2_client_credentials"}:
        if "oauth" not in data:
            ctx.fail("oauth", f"is required for auth_type {auth_type}")
        definition["oauth"] = _oauth(ctx, data["oauth"], setting_names, auth_type)
        if "credentials" in data:
            ctx.fail("credentials", f"is only for api_key/basic providers, not {auth_type}")
    else:
        if "oauth" in data:
            ctx.fail("oauth", f"is only for OAuth providers, not {auth_type}")
        if "credentials" not in data:
            ctx.fail("credentials", f"is required for auth_type {auth_type}")
        definition["credentials"] = _credentials(ctx, data["credentials"], auth_type, setting_names)
    if "verification" in data:
        definition["verification"] = _verification(ctx, data["verification"], setting_names)
    compat = data.get("compat", {})
    _check_keys(ctx, "compat", compat, set(), {"supaglue_provider_name", "supaglue_category", "openint_connector_name"})
    if "supaglue_category" in compat:
        _enum(ctx, "compat.supaglue_category", compat["supaglue_category"], SUPAGLUE_CATEGORIES)
    definition["compat"] = compat
    return definition


def template_setting_names(definition: dict) -> set[str]:
    """Settings referenced by URL templates: they must be known before redirecting to the provider."""
    oauth = definition.get("oauth") or {}
    urls = [oauth.get("authorize_url"), oauth.get("token_url")]
    urls += [s["scope"] for s in definition.get("scopes", [])]
    return {name for url in urls if url for kind, name in TEMPLATE_PATTERN.findall(url) if kind == "settings"}
