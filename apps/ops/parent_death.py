"""Child processes that die with the process that started them, however it dies (SIGKILL included).

Linux only: the child asks the kernel, between fork and exec, for a signal when its parent dies
(`prctl(PR_SET_PDEATHSIG)`; the request survives exec). The kernel sends it when the *thread* that forked
the child ends, so fork from a thread that lives as long as the process (its main thread). Other systems
(macOS) have no such call: there the children outlive a parent that is killed without a chance to stop them.
"""

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def parent_death_signal_request(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that has the child sent `signum` when this process dies, or None
    where the system cannot do that.

    Call it in the process that starts the children: it records that process's id, so a child whose parent
    died before the request took effect (the signal is then never sent) exits instead of running on."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    parent = os.getpid()

    def request_parent_death_signal() -> None:
        if prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum)) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
        if os.getppid() != parent:
            os._exit(128 + signum)  # as if the signal had come: the shell's code for death by it

    return request_parent_death_signal
