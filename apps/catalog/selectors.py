from django.db.models import Q, QuerySet

from apps.catalog.models import ConnectorConfig, Provider
from apps.tenants.models import Application


def provider_list(
    *, search: str = "", category: str = "", auth_type: str = "", enabled_only: bool = True
) -> QuerySet[Provider]:
    providers = Provider.objects.all()
    if enabled_only:
        providers = providers.filter(is_enabled=True)
    if search:
        providers = providers.filter(Q(name__icontains=search) | Q(display_name__icontains=search))
    if category:
        providers = providers.filter(category_index__contains=f",{category},")
    if auth_type:
        providers = providers.filter(auth_type=auth_type)
    return providers.order_by("display_name")


def provider_get(*, name: str, enabled_only: bool = True) -> Provider | None:
    providers = Provider.objects.filter(name=name)
    if enabled_only:
        providers = providers.filter(is_enabled=True)
    return providers.first()


def connector_config_list(*, application: Application) -> QuerySet[ConnectorConfig]:
    return ConnectorConfig.objects.filter(application=application).select_related("provider").order_by("-created_at")


def connector_config_get(*, application: Application, provider: Provider) -> ConnectorConfig | None:
    return ConnectorConfig.objects.filter(application=application, provider=provider).select_related("provider").first()


def connector_config_get_by_id(*, application: Application, config_id: str) -> ConnectorConfig | None:
    return ConnectorConfig.objects.filter(application=application, id=config_id).select_related("provider").first()
