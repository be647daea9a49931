"""Server-rendered forms built from the catalog: provider settings specs and credential fields."""

from collections.abc import Mapping
from typing import Any

from apps.catalog.models import Provider
from apps.connections.exceptions import SettingsInvalid
from apps.connections.provider_client import SettingOptions
from apps.connections.settings_spec import clean_settings

INPUT_TYPES = {"string": "text", "url": "url", "uuid": "text", "integer": "number"}


def setting_field(
    spec: dict, *, value: Any = None, error: str = "", options: SettingOptions | None = None, listing: bool = False
) -> dict:
    """What the template needs to draw one setting: widget kind, choices, value as text, error.

    With `listing` (signed in, so the provider can be asked), a setting with an options request is a
    choice among what the provider listed (`options`); without `options` yet it waits for the setting it
    depends on. When the list could not be loaded it is typed, with the provider's answer shown.
    """
    request = spec.get("options")
    depends_on = request["depends_on"] if request else None
    choices = [(option, option) for option in spec.get("enum") or []]
    if options is not None and not options.error:
        choices = options.choices
    if spec["type"] == "boolean":
        widget = "checkbox"
    elif choices:
        widget = "select"
    elif listing and request and options is None:
        widget = "waiting"
    else:
        widget = "input"
    if value is None:
        value = spec.get("default")
    return {
        "name": spec["name"],
        "label": spec["label"],
        "help": spec.get("help", ""),
        "required": spec.get("required", True),
        "widget": widget,
        "input_type": INPUT_TYPES.get(spec["type"], "text"),
        "pattern": spec.get("pattern") or "",
        "example": spec.get("example") or "",
        "choices": choices,
        "has_options": bool(request),
        "depends_on": depends_on if listing and depends_on else "",
        "options_error": options.error if options is not None else "",
        "checked": value is True or str(value).lower() in {"true", "on", "1"},
        "value": "" if value is None or isinstance(value, bool) else str(value),
        "error": error,
    }


def settings_fields(
    specs: list[dict], *, values: dict, errors: dict | None = None, options: dict | None = None
) -> list[dict]:
    """Fields for a settings form; `options` (None before sign-in) maps setting names to provider lists."""
    errors = errors or {}
    return [
        setting_field(
            spec,
            value=values.get(spec["name"]),
            error=errors.get(spec["name"], ""),
            options=(options or {}).get(spec["name"]),
            listing=options is not None,
        )
        for spec in specs
    ]


def settings_from_post(specs: list[dict], data: Mapping[str, Any]) -> dict:
    """The submitted values for these specs; an unticked checkbox means false."""
    values = {}
    for spec in specs:
        if spec["type"] == "boolean":
            values[spec["name"]] = "true" if data.get(spec["name"]) else "false"
        elif spec["name"] in data:
            values[spec["name"]] = data.get(spec["name"], "")
    return values


def settings_clean(*, provider: Provider, specs: list[dict], data: Mapping[str, Any]) -> tuple[dict, dict]:
    """(cleaned values, errors) for a settings form post; required specs must be filled in."""
    values = settings_from_post(specs, data)
    try:
        cleaned = clean_settings(provider=provider, values=values, only=[s["name"] for s in specs if s["required"]])
    except SettingsInvalid as exc:
        return values, exc.errors
    return cleaned, {}


def setting_validate(*, provider: Provider, name: str, data: Mapping[str, Any]) -> dict | None:
    """One field re-drawn with its error, for htmx inline validation; None for an unknown setting."""
    spec = next((s for s in provider.settings_spec if s["name"] == name), None)
    if spec is None:
        return None
    values, errors = settings_clean(provider=provider, specs=[spec], data=data)
    return setting_field(spec, value=values.get(name), error=errors.get(name, ""))


def credential_fields(provider: Provider, *, errors: dict | None = None, values: dict | None = None) -> list[dict]:
    errors, values = errors or {}, values or {}
    fields = []
    for field in (provider.definition.get("credentials") or {}).get("fields", []):
        fields.append(
            {
                **field,
                "input_type": "password" if field.get("secret", True) else "text",
                # A secret the person typed is never sent back into the page.
                "value": "" if field.get("secret", True) else values.get(field["name"], ""),
                "error": errors.get(field["name"], ""),
            }
        )
    return fields


def credentials_from_post(provider: Provider, data: Mapping[str, Any]) -> tuple[dict, dict]:
    values, errors = {}, {}
    for field in (provider.definition.get("credentials") or {}).get("fields", []):
        value = (data.get(field["name"]) or "").strip()
        if not value:
            errors[field["name"]] = f"Enter your {field['label']}."
        values[field["name"]] = value
    return values, errors
