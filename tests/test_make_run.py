"""`make setup` + `manage.py runall` from a fresh clone: healthz answers 200, Ctrl-C stops every process."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import alive, children_of, process_in_own_session, process_tree

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# The clone runs like `make run` on a bare machine: embedded SQLite + filesystem broker, local settings.
STRIPPED_ENV = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "PATCHBAY_VAR_DIR",
                "SECRET_KEY", "PATCHBAY_VAULT_KEYS", "PATCHBAY_BASE_URL", "ALLOWED_HOSTS", "DEBUG"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """A free port whose next port is free too (make run serves the widget demo page there)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free ports in a row")


@pytest.fixture
def clone(tmp_path):
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("the working tree has no commits to clone")
    target = tmp_path / "patchbay"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    return target


def test_make_setup_then_runall_serves_healthz_and_stops_cleanly(clone, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    port = free_port_pair()
    env["PATCHBAY_BASE_URL"] = f"http://127.0.0.1:{port}"
    # Reuse this checkout's virtualenv; a stamp newer than pyproject.toml tells make the install is done.
    venv = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv")
    stamp = tmp_path / "installed.stamp"
    stamp.touch()
    make_vars = [f"VENV={venv}", f"STAMP={stamp}", f"PORT={port}"]

    setup = subprocess.run(
        ["make", "--no-print-directory", "setup", *make_vars],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "Patchbay demo is ready" in setup.stdout
    assert "pb_live_" in setup.stdout
    assert (clone / "var" / "demo-credentials.json").exists()
    assert f"Widget demo:     http://localhost:{port + 1}/" in setup.stdout

    log_path = tmp_path / "runall.log"
    argv = [str(venv / "bin" / "python"), "manage.py", "runall", "--host", "127.0.0.1", "--port", str(port)]
    # The child shares the log's file offset: read the log through its path only.
    with (
        log_path.open("w") as log,
        process_in_own_session(argv, env=env, cwd=clone, stdout=log, stderr=subprocess.STDOUT) as runall,
    ):
        deadline, status = time.monotonic() + 180, None
        while time.monotonic() < deadline and runall.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    status = response.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status == 200, log_path.read_text()[-5000:]

        # The widget demo page, on the other loopback name: a second site.
        deadline, demo_page = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not demo_page:
            try:
                with urllib.request.urlopen(f"http://localhost:{port + 1}/", timeout=5) as response:
                    demo_page = response.read().decode()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert f'src="http://127.0.0.1:{port}/static/patchbay/v1/connect.js"' in demo_page, log_path.read_text()[-3000:]

        # Wait until worker, beat and the demo page have started too, then Ctrl-C.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(children_of(runall.pid)) < 4:
            time.sleep(0.5)
        children = children_of(runall.pid)
        descendants = process_tree(runall.pid) - {runall.pid}
        assert len(children) == 4, children
        time.sleep(2)
        runall.send_signal(signal.SIGINT)
        assert runall.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in descendants):
            time.sleep(0.2)
        assert not [pid for pid in descendants if alive(pid)]
    output = log_path.read_text()
    assert "all stopped." in output
    assert f"widget demo on http://localhost:{port + 1}/" in output
    for name in ("web", "worker", "beat", "host"):
        assert re.search(rf"^{name} +\|", output, re.MULTILINE), f"no output from {name}"
