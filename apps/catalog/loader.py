"""Read provider YAML files from the catalog directories and validate them."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings

from apps.catalog.schema import CatalogError, validate_provider


@dataclass(frozen=True)
class ProviderFile:
    path: Path
    definition: dict

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.definition, sort_keys=True).encode()).hexdigest()


def catalog_dirs() -> list[Path]:
    return [Path(d) for d in settings.PATCHBAY_CATALOG_DIRS]


def load_provider_file(path: Path) -> ProviderFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(str(path), "(file)", f"is not valid YAML: {exc}") from None
    definition = validate_provider(data, source=str(path))
    if not definition["sources"]:
        # In-memory definitions (tests, benchmarks) may skip it; a catalog entry must say where its facts come from.
        raise CatalogError(str(path), "sources", "is required in a catalog file (vendor docs first)")
    if path.stem != definition["name"]:
        raise CatalogError(str(path), "name", f"must match the file name ({path.stem!r})")
    return ProviderFile(path=path, definition=definition)


def load_catalog_files(dirs: list[Path] | None = None) -> list[ProviderFile]:
    """Every provider file in the catalog directories; later directories may not redefine a name."""
    files: dict[str, ProviderFile] = {}
    for directory in dirs if dirs is not None else catalog_dirs():
        if not directory.is_dir():
            raise CatalogError(str(directory), "(directory)", "does not exist")
        for path in sorted(directory.glob("*.y*ml")):
            provider_file = load_provider_file(path)
            name = provider_file.definition["name"]
            if name in files:
                raise CatalogError(str(path), "name", f"{name!r} is already defined in {files[name].path}")
            files[name] = provider_file
    return list(files.values())
