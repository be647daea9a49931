"""Validation of a connection's non-secret settings against its provider's catalog spec."""

import re
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from apps.catalog.models import Provider
from apps.catalog.schema import template_setting_names
from apps.connections.exceptions import SettingsInvalid

_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}


def _clean_value(spec: dict, raw: object) -> Any:
    kind = spec["type"]
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("Must be true or false.")
    if raw is None:
        return None
    if kind == "integer":
        if isinstance(raw, bool):
            raise ValueError("Must be a whole number.")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError("Must be a whole number.") from None
    if not isinstance(raw, str):
        raise ValueError("Must be text.")
    value = raw.strip()
    if value == "":
        return ""
    if kind == "url":
        try:
            URLValidator(schemes=["https", "http"])(value)
        except ValidationError:
            raise ValueError("Must be a full URL like https://example.com.") from None
    if kind == "uuid":
        try:
            value = str(uuid.UUID(value))
        except ValueError:
            raise ValueError("Must be a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e.") from None
    if spec.get("enum") and value not in spec["enum"]:
        raise ValueError(f"Must be one of: {', '.join(spec['enum'])}.")
    if spec.get("pattern") and not re.fullmatch(spec["pattern"], value):
        example = f" (for example {spec['example']})" if spec.get("example") else ""
        raise ValueError(f"Does not have the expected format{example}.")
    return value


def clean_settings(*, provider: Provider, values: dict, only: list[str] | None = None) -> dict:
    """Validate `values`; with `only`, those names are also required to be filled in.

    Raises SettingsInvalid with one message per field; returns the cleaned values otherwise.
    """
    specs = {spec["name"]: spec for spec in provider.settings_spec}
    if not isinstance(values, dict):
        raise SettingsInvalid({"settings": "Must be an object of setting names to values."})
    errors: dict[str, str] = {}
    cleaned: dict = {}
    for name, raw in values.items():
        spec = specs.get(name)
        if spec is None:
            errors[name] = f"Unknown setting for {provider.display_name}."
            continue
        try:
            cleaned[name] = _clean_value(spec, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    for name in only or []:
        spec = specs.get(name)
        if spec and spec["required"] and name not in errors and cleaned.get(name) in (None, ""):
            errors[name] = "This setting is required."
    if errors:
        raise SettingsInvalid(errors)
    return cleaned


def settings_needed_before_authorize(*, provider: Provider, settings: dict) -> list[dict]:
    """Specs of settings the provider's URLs are built from that the connection does not have yet."""
    names = template_setting_names(provider.definition)
    return [
        spec
        for spec in provider.settings_spec
        if (spec["name"] in names or spec["ask_before_authorize"]) and settings.get(spec["name"]) in (None, "")
    ]
