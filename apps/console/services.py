"""The Support role: sees everything a customer's problem touches and runs the repair actions, but never
changes applications, connector configs or API keys and never sees a secret (no page shows one anyway).

The group is kept in step on every `migrate` (post_migrate: permissions only exist once every app has
migrated), so a new model's view permission reaches Support without a hand-written data migration.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

SUPPORT_GROUP = "Support"
VIEWABLE_APPS = ["tenants", "catalog", "connections", "connect", "webhooks", "core", "sandbox"]
# Running the console actions: check health, refresh, disconnect, reconnect link, sync on/off (connections)
# and resend (webhooks) need the change permission on those two models only.
OPERATE_PERMISSIONS = [("connections", "change_connection"), ("webhooks", "change_webhookdelivery")]


def support_permissions():
    operate = Q()
    for app_label, codename in OPERATE_PERMISSIONS:
        operate |= Q(content_type__app_label=app_label, codename=codename)
    viewable = Q(content_type__app_label__in=VIEWABLE_APPS, codename__startswith="view_")
    return Permission.objects.filter(viewable | operate)


def support_group_sync() -> Group:
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(support_permissions())
    return group


def support_group_sync_after_migrate(sender, **kwargs) -> None:
    if sender.label == "console":
        support_group_sync()
