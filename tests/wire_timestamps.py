"""One timestamp format on the wire: every JSON response the test suite receives is scanned.

Any string value that looks like an instant (`YYYY-MM-DDTHH:MM…`) must be RFC 3339 UTC with milliseconds
and `Z` (apps/core/timestamps.py). Values the application or a provider chose (metadata, settings,
credentials, JSON Schemas with their examples) are theirs to format and are not scanned.
"""

import json
import re

from apps.core.timestamps import TIMESTAMP_PATTERN

LOOKS_LIKE_AN_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
CALLER_CHOSEN_KEYS = {"metadata", "settings", "default_settings", "credentials", "schemas", "raw"}


def misformatted_timestamps(value, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in CALLER_CHOSEN_KEYS:
                found += misformatted_timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            found += misformatted_timestamps(item, f"{path}[]")
    elif isinstance(value, str) and LOOKS_LIKE_AN_INSTANT.match(value) and not re.match(TIMESTAMP_PATTERN, value):
        found.append(f"{path or '.'} = {value!r}")
    return found


def check_response(response) -> None:
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return
    try:
        payload = json.loads(response.content)
    except ValueError:
        return
    bad = misformatted_timestamps(payload)
    assert not bad, f"timestamps not in the one wire format ({TIMESTAMP_PATTERN}): {bad}"
