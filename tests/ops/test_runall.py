import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from apps.ops.management.commands.runall import build_children
from tests.processes import (
    ROOT,
    Broker,
    alive,
    children_of,
    new_process_tag,
    process_env,
    process_in_own_session,
    process_tree,
    running_processes_tagged,
    wait_for,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listened_on(port: int) -> bool:
    """Whether a socket listens on the port (with SO_REUSEADDR, connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def runall_argv(port: int) -> list[str]:
    return [sys.executable, "manage.py", "runall", "--port", str(port), "--demo-host-port", "0"]


def test_runall_starts_gunicorn_worker_and_beat(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    children = {c.name: c.argv for c in build_children(host="0.0.0.0", port=9001, web_workers=2, worker_concurrency=2)}
    assert set(children) == {"web", "worker", "beat"}
    assert children["web"][:3] == [sys.executable, "-m", "gunicorn"]
    assert "0.0.0.0:9001" in children["web"]
    assert children["worker"][children["worker"].index("--concurrency") + 1] == "2"
    assert str(tmp_path / "celerybeat-schedule") in children["beat"]


def test_embedded_default_serves_with_threads_and_a_pool_without_child_processes(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CELERY_BROKER_URL = "filesystem://"
    children = {
        c.name: c.argv for c in build_children(host="127.0.0.1", port=9001, web_workers=2, worker_concurrency=2)
    }
    web, worker = children["web"], children["worker"]
    assert web[web.index("--worker-class") + 1] == "gthread" and int(web[web.index("--threads") + 1]) > 1
    assert worker[worker.index("--pool") + 1] == "threads"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    redis_worker = {c.name: c.argv for c in build_children(host="h", port=1, web_workers=1, worker_concurrency=1)}
    assert "--pool" not in redis_worker["worker"]


def test_access_log_lines_carry_no_query_string(settings, tmp_path):
    """gunicorn's access log must not record a callback's `code` and `state`."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    settings.VAR_DIR = tmp_path
    (web,) = [c.argv for c in build_children(host="h", port=1, web_workers=1, worker_concurrency=1) if c.name == "web"]
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", web[web.index("--access-logformat") + 1])
    logger = Logger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/connect/callback?code=the-code&state=the-state",
        "PATH_INFO": "/connect/callback",
        "QUERY_STRING": "code=the-code&state=the-state",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://provider.example/consent?code=the-code",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = type("Response", (), {"status": "302 Found", "sent": 0, "headers": [], "response_length": 0})()
    atoms = logger.atoms(response, type("Request", (), {"headers": []})(), environ, timedelta(seconds=0.01))
    line = config.access_log_format % atoms
    assert "/connect/callback" in line and "the-code" not in line and "the-state" not in line


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_runall_alone_stops_every_child(tmp_path: Path, stop_signal: signal.Signals) -> None:
    """Its children run in sessions of their own: a process manager's SIGTERM or a closed terminal's SIGHUP
    reaches runall only, and runall must stop them, or they run on as orphans."""
    with (
        open(tmp_path / "runall.log", "w") as log,
        process_in_own_session(
            runall_argv(free_port()), env=process_env(Broker(tmp_path)), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        ) as runall,
    ):
        wait_for(lambda: len(children_of(runall.pid)) == 3, timeout=60, what="web, worker and beat")
        time.sleep(2)  # past their own start-up, with their signal handlers in place
        descendants = process_tree(runall.pid) - {runall.pid}
        runall.send_signal(stop_signal)
        assert runall.wait(timeout=60) == 0
        wait_for(lambda: not any(alive(pid) for pid in descendants), timeout=10, what="no child left")
    assert "all stopped." in (tmp_path / "runall.log").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_every_process_dies_with_runall_killed_by_sigkill(tmp_path: Path) -> None:
    """SIGKILL leaves runall no chance to stop its children: each must die with it by itself (the kernel's
    parent-death signal), and gunicorn's master and Celery's main process must stop their own workers on it,
    so that nothing holds the port or the broker."""
    port, tag = free_port(), new_process_tag()
    with (
        open(tmp_path / "runall.log", "w") as log,
        process_in_own_session(
            runall_argv(port),
            env=process_env(Broker(tmp_path)),
            tag=tag,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as runall,
    ):
        wait_for(lambda: len(children_of(runall.pid)) == 3, timeout=60, what="web, worker and beat")
        [web] = wait_for(
            lambda: [pid for pid in children_of(runall.pid) if "gunicorn" in command_line(pid)],
            timeout=30,
            what="gunicorn's master",
        )
        wait_for(lambda: len(children_of(web)) == 2, timeout=60, what="gunicorn's two workers")
        wait_for(lambda: listened_on(port), timeout=60, what="gunicorn listening")
        time.sleep(2)  # past their own start-up, with their signal handlers in place
        assert len(running_processes_tagged(tag)) >= 6  # runall, its three children, gunicorn's workers

        runall.kill()
        runall.wait()
        wait_for(
            lambda: not running_processes_tagged(tag) and not listened_on(port),
            timeout=20,
            interval=0.2,
            what="no process of runall's left and the port free",
        )
