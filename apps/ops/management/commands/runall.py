"""Run web (gunicorn), Celery worker and Celery beat in the foreground as one unit (plus, while the sandbox
is on, `host`: the widget demo page on a second site).

Output of each is prefixed with its name. Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) stops them
all cleanly; if one of them dies, the others are stopped and the command exits non-zero with a message saying
which one. On Linux each child also gets SIGTERM from the kernel when runall dies without stopping them
(SIGKILL, a crash), and stops its own workers on it (see apps/ops/parent_death.py).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.connect.demo_host import demo_host_origin
from apps.ops.parent_death import parent_death_signal_request

STOP_TIMEOUT_SECONDS = 15
# The children run in sessions of their own, so no signal meant for us reaches them: each of these must stop
# them, or they outlive us.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
COLOURS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m", "host": "\033[32m", "runall": "\033[1m"}
RESET = "\033[0m"


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def started(self) -> subprocess.Popen:
        """The child's process, once `_start` has run (supervising and stopping only see started children)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process


WEB_THREADS = 8
# Gunicorn's default access line carries the full request line and the referer, i.e. OAuth callback
# URLs with their `code` and `state`: log the path without its query string instead.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def build_children(
    *, host: str, port: int, web_workers: int, worker_concurrency: int, demo_host_port: int | None = None
) -> list[Child]:
    python = sys.executable
    var_dir = settings.VAR_DIR
    worker = [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", str(worker_concurrency)]
    worker += ["--hostname", f"patchbay@{os.uname().nodename}", "--without-gossip", "--without-mingle"]
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        # The embedded default: a thread pool has no child processes, so no prefork semaphore can be left
        # held by a killed child and jam the pool.
        worker += ["--pool", "threads"]
    web = [python, "-m", "gunicorn", "config.wsgi:application", "--bind", f"{host}:{port}"]
    # Threads: a request waiting on a token refresh must not take the only slot the built-in sandbox's
    # token endpoint (served by this same server) needs to answer it.
    web += ["--workers", str(web_workers), "--worker-class", "gthread", "--threads", str(WEB_THREADS)]
    web += ["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    web += ["--graceful-timeout", "10", "--no-control-socket"]
    beat = [python, "-m", "celery", "-A", "config", "beat", "-l", "info"]
    beat += ["-s", str(var_dir / "celerybeat-schedule"), "--pidfile", ""]
    children = [Child("web", web), Child("worker", worker), Child("beat", beat)]
    if demo_host_port:
        demo = [
            python,
            str(settings.BASE_DIR / "manage.py"),
            "demo_host",
            "--bind",
            host,
            "--port",
            str(demo_host_port),
        ]
        children.append(Child("host", demo))
    return children


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Start web (gunicorn), Celery worker and beat; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--worker-concurrency", type=int, default=2)
        parser.add_argument(
            "--demo-host-port",
            type=int,
            default=None,
            help="Port of the widget demo page (another site embedding the widget); default: --port + 1 while "
            "the sandbox is on, 0 turns it off.",
        )

    def handle(
        self,
        *args,
        host: str,
        port: int,
        web_workers: int,
        worker_concurrency: int,
        demo_host_port: int | None,
        **options,
    ):
        self.colour = sys.stdout.isatty()
        self.print_lock = threading.Lock()
        self.stopping = threading.Event()
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        if not os.path.isdir(settings.STATIC_ROOT):
            self.say(f"note: {settings.STATIC_ROOT} is missing; run `manage.py collectstatic` (make run does).")

        settings_module = settings.SETTINGS_MODULE or os.environ["DJANGO_SETTINGS_MODULE"]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "PYTHONUNBUFFERED": "1"}
        if demo_host_port is None:
            demo_host_port = port + 1 if settings.PATCHBAY_SANDBOX_ENABLED else 0
        if demo_host_port and not _port_free(host, demo_host_port):
            self.say(f"widget demo off: port {demo_host_port} is in use (choose one with --demo-host-port).")
            demo_host_port = 0
        children = build_children(
            host=host,
            port=port,
            web_workers=web_workers,
            worker_concurrency=worker_concurrency,
            demo_host_port=demo_host_port,
        )
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        exit_code = 0
        try:
            for child in children:
                self._start(child, env)
            self.say(f"web on http://{host}:{port}/ — press Ctrl-C to stop web, worker and beat.")
            if demo_host_port:
                origin = demo_host_origin(base_url=settings.PATCHBAY_BASE_URL, port=demo_host_port)
                self.say(f"widget demo on {origin}/ — another site that embeds the connect widget.")
            exit_code = self._supervise(children)
        finally:
            self._stop_all(children)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if exit_code:
            sys.exit(exit_code)

    # --- processes -----------------------------------------------------------------------------------

    def _start(self, child: Child, env: dict) -> None:
        process = child.process = subprocess.Popen(  # noqa: S603 - argv built from our own settings, no shell
            child.argv,
            # Only prctl and getppid run between fork and exec, so the reader threads hold nothing the child
            # needs. The kernel's parent-death signal follows the forking thread: this runs in the main one.
            preexec_fn=parent_death_signal_request(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: the terminal's Ctrl-C reaches only us, we stop them in order
            text=True,
            bufsize=1,
            errors="replace",
        )
        child.reader = threading.Thread(target=self._pump, args=(child.name, process.stdout), daemon=True)
        child.reader.start()

    def _pump(self, name: str, output: IO[str]) -> None:
        for line in output:
            self.emit(name, line.rstrip("\n"))

    def _supervise(self, children: list[Child]) -> int:
        while not self.stopping.is_set():
            for child in children:
                code = child.started.poll()
                if code is not None:
                    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                    self.say(f"{child.name} {how}; stopping the others.")
                    return code if code > 0 else 1
            time.sleep(0.2)
        return 0

    def _stop_all(self, children: list[Child]) -> None:
        running = [c for c in children if c.process is not None and c.process.poll() is None]
        if running:
            self.say("stopping " + ", ".join(c.name for c in running) + " …")
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.started.pid, signal.SIGTERM)  # gunicorn and celery shut down gracefully on TERM
        started = time.monotonic()
        pending = list(running)
        while pending and time.monotonic() - started < STOP_TIMEOUT_SECONDS:
            for child in [c for c in pending if c.started.poll() is not None]:
                pending.remove(child)
                self.say(f"{child.name} stopped after {time.monotonic() - started:.1f}s.")
            time.sleep(0.1)
        for child in pending:
            self.say(f"{child.name} did not stop in {STOP_TIMEOUT_SECONDS}s; killing it.")
        for child in children:
            if child.process is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)  # leftovers in its group (pool processes)
            child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=2)
        if running:
            self.say("all stopped.")

    def _on_signal(self, signum, frame) -> None:
        if not self.stopping.is_set():
            self.say(f"received {signal.Signals(signum).name}.")
        self.stopping.set()

    # --- output --------------------------------------------------------------------------------------

    def emit(self, name: str, line: str) -> None:
        prefix = f"{name:<6} |"
        if self.colour:
            prefix = f"{COLOURS.get(name, '')}{prefix}{RESET}"
        with self.print_lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    def say(self, message: str) -> None:
        self.emit("runall", message)
