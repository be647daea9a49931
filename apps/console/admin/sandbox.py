"""The built-in sandbox provider's OAuth-toolkit tables (its clients, grants and issued tokens) are the
sandbox's internals, not Patchbay data: they stay out of the console, whose pages never show a token."""

from django.contrib import admin
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

for model in (
    get_application_model(),
    get_access_token_model(),
    get_refresh_token_model(),
    get_grant_model(),
    get_id_token_model(),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
