"""Benchmark: load and sync a catalog of 1,000 provider files, against only parsing their YAML.

    python bench/catalog_load.py [--files 1000]

Uses DATABASE_URL or a throwaway PostgreSQL database. Prints the time of yaml.safe_load alone (the floor
any loader pays), of load_catalog_files (parse + strict schema), of a first catalog_sync (creates every
row) and of a second one (nothing changed: the idempotent path), each with its ratio to the parse floor.
Not part of pytest.
"""

import argparse
import tempfile
import time
from pathlib import Path

from _setup import django_on_bench_database


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1_000)
    args = parser.parse_args()
    django_on_bench_database("patchbay_bench_catalog")

    import yaml

    from apps.catalog.loader import load_catalog_files
    from apps.catalog.services import catalog_sync
    from tests.catalog.helpers import write_synthetic_catalog

    with tempfile.TemporaryDirectory() as directory:
        paths = write_synthetic_catalog(Path(directory), args.files)

        def parse_only_yaml():
            return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]

        parse_only_yaml()  # warm the file cache so the floor is not paying for disk reads the others skip
        parse_only, _ = timed(parse_only_yaml)
        load, _ = timed(lambda: load_catalog_files([Path(directory)]))
        first, created = timed(lambda: catalog_sync(files=load_catalog_files([Path(directory)])))
        again, unchanged = timed(lambda: catalog_sync(files=load_catalog_files([Path(directory)])))
    print(f"{args.files} files")
    print(f"  yaml.safe_load only        {parse_only:6.2f}s  (1.00x)")
    print(f"  load_catalog_files         {load:6.2f}s  ({load / parse_only:.2f}x)")
    print(f"  first catalog_sync         {first:6.2f}s  ({first / parse_only:.2f}x)  created {len(created.created)}")
    print(f"  unchanged catalog_sync     {again:6.2f}s  ({again / parse_only:.2f}x)  unchanged {unchanged.unchanged}")


if __name__ == "__main__":
    main()
