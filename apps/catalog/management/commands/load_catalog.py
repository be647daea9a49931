from django.core.management.base import BaseCommand, CommandError

from apps.catalog.schema import CatalogError
from apps.catalog.services import catalog_sync


class Command(BaseCommand):
    help = "Validate the provider YAML files and sync them into the Provider table (idempotent)."

    def handle(self, *args, **options):
        try:
            result = catalog_sync()
        except CatalogError as exc:
            raise CommandError(f"Catalog is invalid: {exc}") from None
        self.stdout.write(
            f"Catalog: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.disabled)} disabled, {result.unchanged} unchanged."
        )
        if result.disabled:
            self.stdout.write(f"Disabled (file removed): {', '.join(result.disabled)}")
