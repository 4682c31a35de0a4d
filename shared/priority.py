"""Background worker processes run at a lower CPU priority than the service process.

An import validates its rows and the bulk lane builds its documents in worker processes, each
able to keep a core busy for minutes. At the same priority as the process that answers HTTP and
runs every service's event loop (one process in the embedded default), they take their share of
two cores from it, and every await of a person's request waits longer for the CPU: during a
100,000-row import the loop fell a few hundred ms behind and a record written meanwhile took up
to 3 s to become searchable. At a niceness of 10 the kernel still gives them every idle cycle,
but gives way to the service when it has work.
"""

from __future__ import annotations

import contextlib
import os

BACKGROUND_NICENESS = 10


def lower_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """In a worker process (a pool initializer): run at ``niceness`` above the parent's."""
    if hasattr(os, "nice"):  # POSIX; elsewhere the worker keeps its priority
        with contextlib.suppress(OSError):
            os.nice(niceness)
