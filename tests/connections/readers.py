"""Concurrent readers of one connection, mixing refresh policies: used in-process by the test and as a
second process (`python -m tests.connections.readers <connection id> <count>`).

The readers of both processes start together through a handshake rather than at an agreed wall-clock
instant: on a loaded machine a second process can take longer to start than any fixed head start, and a
`force` reader that begins after the shared refresh has finished rightly asks for another token. The
second process prints `ready` once its readers have loaded the row, and starts them when it reads `go`.
"""

import json
import sys
import threading
from collections.abc import Callable

READY, GO = "ready", "go"
SETUP_TIMEOUT_SECONDS = 120


def read_concurrently(connection_id: str, count: int, all_ready: Callable[[], None]) -> list[str]:
    """`count` threads, half `force` and half `auto`. Each loads the row; once all have, `all_ready` runs
    (it returns when the other process's readers are ready too) and then every thread reads at once."""
    from django.db import connections

    from apps.connections.models import Connection
    from apps.connections.services import connection_with_fresh_credentials

    results: list[str] = [""] * count
    start = threading.Barrier(count, action=all_ready, timeout=SETUP_TIMEOUT_SECONDS)

    def read(i: int) -> None:
        try:
            try:
                row = Connection.objects.select_related("provider").get(pk=connection_id)
            except Exception:
                start.abort()  # the others would wait for this reader until the timeout
                raise
            start.wait()
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


def _handshake_with_the_test() -> None:
    print(READY, flush=True)
    if sys.stdin.readline().strip() != GO:
        raise RuntimeError("the test process did not say go")


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(read_concurrently(sys.argv[1], int(sys.argv[2]), _handshake_with_the_test)))
