"""Concurrent readers of one connection, mixing refresh policies: used in-process by the test and as a
second process (`python -m tests.connections.readers <connection id> <count> <start at epoch>`)."""

import json
import sys
import threading
import time


def read_concurrently(connection_id: str, count: int, start_at: float) -> list[str]:
    """`count` threads, half `force` and half `auto`, all released at wall-clock `start_at`."""
    from django.db import connections

    from apps.connections.models import Connection
    from apps.connections.services import connection_with_fresh_credentials

    results: list[str] = [""] * count

    def read(i: int) -> None:
        try:
            row = Connection.objects.select_related("provider").get(pk=connection_id)
            time.sleep(max(0.0, start_at - time.time()))
            fresh = connection_with_fresh_credentials(connection=row, policy="force" if i % 2 else "auto")
            results[i] = fresh.credentials["access_token"]
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results[i] = f"error: {type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(read_concurrently(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))))
