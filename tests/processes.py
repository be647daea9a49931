"""Real processes against the test database: a Celery worker, and plain Django processes.

Tests about crashes and cross-process races need the real thing, not eager Celery in the test process.
The broker is the CI's Redis when CELERY_BROKER_URL says so (on a queue of its own), else the embedded
default's filesystem broker in a temporary folder.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database this test run is using (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Broker:
    def __init__(self, tmp_path: Path):
        configured = os.environ.get("CELERY_BROKER_URL", "")
        self.queue = f"patchbay-test-{uuid.uuid4().hex[:12]}"
        self.url = configured if configured.startswith("redis") else "filesystem://"
        self.var_dir = tmp_path / "var"
        self.transport_options = {}
        if self.url == "filesystem://":
            folder = self.var_dir / "broker"
            for sub in ("queue", "processed", "control"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            self.transport_options = {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
                "store_processed": False,
            }
        self.sender = Celery("patchbay-test-sender", broker=self.url)
        self.sender.conf.update(
            broker_transport_options=self.transport_options, task_default_queue=self.queue, task_serializer="json"
        )

    def send(self, task: str, *args) -> None:
        self.sender.send_task(task, args=list(args), queue=self.queue)


def process_env(broker: Broker, **extra: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker.url,
        "PATCHBAY_VAR_DIR": str(broker.var_dir),
        "PATCHBAY_TEST_CELERY_QUEUE": broker.queue,
        "PATCHBAY_TEST_CELERY_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@contextlib.contextmanager
def celery_worker(broker: Broker, log_path: Path, *, pool: str = "prefork", **env: str):
    """A real `celery worker` (one pool slot) on the broker's private queue; stopped when the block ends."""
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "1"]
    argv += ["--pool", pool, "-Q", broker.queue, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    argv += ["--hostname", f"{broker.queue}@%h"]
    with open(log_path, "w") as log:
        worker = subprocess.Popen(argv, cwd=ROOT, env=process_env(broker, **env), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield worker
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def pool_children(worker: subprocess.Popen) -> list[int]:
    """Pids of the worker's pool processes (Linux /proc; a replacement is forked by a pool thread, and
    each thread's children are listed under that thread)."""
    pids = []
    for children in Path(f"/proc/{worker.pid}/task").glob("*/children"):
        try:
            pids += [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return pids


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def process_tree(pid: int) -> set[int]:
    """The process and all its descendants."""
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = set().union(*(children_of(parent) for parent in frontier)) - tree
        tree |= frontier
    return tree


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


PROCESS_TAG_VARIABLE = "PATCHBAY_TEST_PROCESS_TAG"


def new_process_tag() -> str:
    return uuid.uuid4().hex


def processes_tagged(tag: str) -> set[int]:
    """Every process whose environment carries the tag: a process started with it and all its descendants,
    orphans included (Linux /proc)."""
    marker = f"{PROCESS_TAG_VARIABLE}={tag}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.add(int(entry.name))
    return found


def running_processes_tagged(tag: str) -> set[int]:
    """The tagged processes that still run (an orphan nobody reaps stays a zombie, which runs nothing)."""
    return {pid for pid in processes_tagged(tag) if alive(pid)}


@contextlib.contextmanager
def process_in_own_session(
    argv: list[str], *, env: dict[str, str], tag: str | None = None, **popen_options: Any
) -> Iterator[subprocess.Popen]:
    """Start argv in a session of its own, so a Ctrl-C in the terminal interrupts only pytest, and leave
    nothing of it running however the block ends (a failed assertion, a timeout, Ctrl-C): SIGTERM lets it
    stop its children, then SIGKILL reaches every process that inherited its tag (`tag`, else a new one),
    even those it orphaned."""
    tag = tag or new_process_tag()
    process = subprocess.Popen(argv, env={**env, PROCESS_TAG_VARIABLE: tag}, start_new_session=True, **popen_options)
    try:
        yield process
    finally:
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
        finally:
            for _ in range(5):  # a process may fork between the scan and the kill
                leftovers = processes_tagged(tag)
                if not leftovers:
                    break
                for pid in leftovers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            process.wait()
