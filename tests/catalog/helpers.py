"""Small builders for catalog tests: a minimal valid provider dict and a way to write it as YAML."""

import copy
from pathlib import Path

import yaml

MINIMAL_OAUTH = {
    "name": "acme-crm",
    "display_name": "Acme CRM",
    "description": "A test CRM.",
    "categories": ["crm"],
    "auth_type": "oauth2",
    "website": "https://acme.example.com",
    "color": "#123456",
    "oauth": {
        "authorize_url": "https://{settings.subdomain}.acme.example.com/oauth/authorize",
        "token_url": "https://{settings.subdomain}.acme.example.com/oauth/token",
    },
    "settings": [{"name": "subdomain", "type": "string", "label": "Subdomain", "ask_before_authorize": True}],
    "scopes": [{"scope": "read", "kind": "default"}],
    "verification": {"url": "https://{settings.subdomain}.acme.example.com/api/me"},
    "sources": ["https://acme.example.com/docs/oauth"],
}

MINIMAL_API_KEY = {
    "name": "acme-keys",
    "display_name": "Acme Keys",
    "description": "A test API-key provider.",
    "categories": ["enrichment"],
    "auth_type": "api_key",
    "website": "https://acme.example.com",
    "color": "#ABCDEF",
    "credentials": {
        "fields": [{"name": "api_key", "label": "API key"}],
        "inject": {"in": "header", "name": "Authorization", "value": "Bearer {credentials.api_key}"},
    },
    "sources": ["https://acme.example.com/docs/keys"],
}


def provider_dict(base: dict = MINIMAL_OAUTH, **changes) -> dict:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def write_provider(directory: Path, data: dict, *, file_name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{file_name or data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_synthetic_catalog(directory: Path, count: int) -> list[Path]:
    """`count` valid provider files, alternating OAuth and API-key shapes, for scale tests and benchmarks."""
    paths = []
    for index in range(count):
        base = MINIMAL_OAUTH if index % 2 else MINIMAL_API_KEY
        name = f"synthetic-{index:04d}"
        paths.append(write_provider(directory, provider_dict(base, name=name, display_name=f"Synthetic {index}")))
    return paths
