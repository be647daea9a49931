"""A child started with the parent-death request dies with its parent, with real processes (Linux only)."""

import os
import sys

import pytest

from tests.processes import (
    ROOT,
    children_of,
    new_process_tag,
    process_in_own_session,
    running_processes_tagged,
    wait_for,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

# A parent that starts a sleeping child with the request and waits; the test SIGKILLs it. With `late`, the
# child makes the request only once its parent has died: the race where the parent dies between fork and prctl.
PARENT = """
import os, subprocess, sys, time
from apps.ops.parent_death import parent_death_signal_request

request = parent_death_signal_request()
parent = os.getpid()

def request_after_the_parent_died():
    while os.getppid() == parent:
        time.sleep(0.01)
    request()

late = sys.argv[1] == "late"
subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    preexec_fn=request_after_the_parent_died if late else request,
)
time.sleep(60)
"""


@pytest.mark.parametrize("when", ["early", "late"], ids=["asked-while-the-parent-lives", "parent-died-before-asking"])
def test_the_child_does_not_outlive_a_parent_killed_by_sigkill(when: str) -> None:
    tag = new_process_tag()
    with process_in_own_session(
        [sys.executable, "-c", PARENT, when], env=dict(os.environ), tag=tag, cwd=ROOT
    ) as parent:
        wait_for(lambda: children_of(parent.pid), timeout=30, what="the child")
        parent.kill()
        parent.wait()
        wait_for(lambda: not running_processes_tagged(tag), timeout=10, what="the child gone with its parent")
