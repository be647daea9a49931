"""Every registered domain error, each as an instance a test can raise.

All modules under apps/ are imported first, so an error class defined anywhere is registered (a module
nothing imports yet would otherwise hide its codes from the tests that walk them)."""

import importlib
import pkgutil
from collections.abc import Callable

import apps
from apps.api.errors import UnknownProvider
from apps.connections.exceptions import RefreshInProgress, SettingsInvalid
from apps.core.errors import PatchbayError, error_classes

# Errors whose constructor needs arguments; every other error is raised as `cls()`.
EXAMPLES: dict[type[PatchbayError], Callable[[], PatchbayError]] = {
    SettingsInvalid: lambda: SettingsInvalid({"environment": "Must be text."}),
    RefreshInProgress: lambda: RefreshInProgress(retry_after=7),
    UnknownProvider: lambda: UnknownProvider("no-such-provider"),
}


def import_every_app_module() -> None:
    for module in pkgutil.walk_packages(apps.__path__, prefix="apps."):
        importlib.import_module(module.name)


def every_error_class() -> list[type[PatchbayError]]:
    import_every_app_module()
    return error_classes()


def example(error_class: type[PatchbayError]) -> PatchbayError:
    return EXAMPLES.get(error_class, error_class)()
