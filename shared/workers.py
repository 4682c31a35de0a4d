"""Worker processes (a ``ProcessPoolExecutor``'s) that exit when the process that started them
dies, however it dies: a SIGKILL of the server must not leave document builders or an import's
validator running, each holding its memory (about 1 GB after one crash during an import).

Two guards, both set up by ``die_with_parent`` in the pool's initializer:
- Linux's ``PR_SET_PDEATHSIG``: the kernel sends the worker SIGKILL the moment its parent dies;
- a watchdog thread that polls the parent's pid every second and exits the worker when it
  changed (the parent died before the signal was asked for, or the system has no prctl).

multiprocessing's resource tracker needs neither: it exits when the last process holding its pipe
(the parent and these workers) is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

__all__ = ["die_with_parent", "name_process"]

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
WATCHDOG_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """In a worker process (from a pool initializer given ``initargs=(os.getpid(),)``): exit as
    soon as the process ``parent_pid`` is no longer this process's parent."""
    with contextlib.suppress(Exception):  # not Linux: the watchdog alone
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # died already, before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watchdog", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)  # no clean-up: the parent that would collect our results is gone


def name_process(name: str) -> None:
    """The process's name as ``ps -o comm``, ``top`` and psutil's ``name()`` show it (15 bytes at
    most): a process forked from ``huike run`` has its command line, not one of its own."""
    with contextlib.suppress(Exception):  # not Linux: the inherited name
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15])
