from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from apps.audit.services import audit_record
from apps.catalog.loader import ProviderFile, load_catalog_files
from apps.catalog.models import ConnectorConfig, Provider
from apps.tenants.models import Application


@dataclass
class CatalogSyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.disabled)


@transaction.atomic
def catalog_sync(*, files: list[ProviderFile] | None = None) -> CatalogSyncResult:
    """Make the Provider table match the catalog files. Removed files disable, never delete, a provider."""
    files = load_catalog_files() if files is None else files
    result = CatalogSyncResult()
    existing = {p.name: p for p in Provider.objects.select_for_update()}
    for provider_file in files:
        definition = provider_file.definition
        values = {
            "display_name": definition["display_name"],
            "auth_type": definition["auth_type"],
            "categories": definition["categories"],
            "stage": definition["stage"],
            "definition": definition,
            "source_file": str(provider_file.path),
            "content_hash": provider_file.content_hash,
            "is_enabled": True,
        }
        provider = existing.pop(definition["name"], None)
        if provider is None:
            Provider.objects.create(name=definition["name"], **values)
            result.created.append(definition["name"])
        elif (
            provider.content_hash != values["content_hash"]
            or not provider.is_enabled
            or (provider.source_file != values["source_file"])
        ):
            for key, value in values.items():
                setattr(provider, key, value)
            provider.save()
            result.updated.append(provider.name)
        else:
            result.unchanged += 1
    for provider in existing.values():
        if provider.is_enabled:
            provider.is_enabled = False
            provider.save(update_fields=["is_enabled", "modified_at"])
            result.disabled.append(provider.name)
    return result


@transaction.atomic
def connector_config_upsert(
    *,
    application: Application,
    provider: Provider,
    client_id: str | None = None,
    client_secret: str | None = None,
    scopes: list[str] | None = None,
    default_settings: dict[str, Any] | None = None,
    is_enabled: bool | None = None,
    actor: str = "system",
) -> ConnectorConfig:
    config, created = ConnectorConfig.objects.select_for_update().get_or_create(
        application=application, provider=provider
    )
    if client_id is not None:
        config.client_id = client_id
    if client_secret is not None:
        config.client_secret = {"client_secret": client_secret}
    if scopes is not None:
        config.scopes = scopes
    if default_settings is not None:
        config.default_settings = default_settings
    if is_enabled is not None:
        config.is_enabled = is_enabled
    config.save()
    audit_record(
        action="connector_config.created" if created else "connector_config.updated",
        target=config,
        actor=actor,
        data={"provider": provider.name, "client_secret_changed": client_secret is not None},
    )
    return config
