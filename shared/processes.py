"""``huike run`` on N cores: N HTTP server processes on one port, supervised by the parent.

One Python process uses one core (the GIL), so the embedded default serves with one process per
usable core, at most two (``HUIKE_HTTP_PROCESSES``: a number chooses; 1 serves in the parent
itself). Each process is
a whole replica of every service, exactly as the Helm chart's pods are: JetStream durable pull
consumers share their events, queues are leased with ``FOR UPDATE SKIP LOCKED``, one outbox relay
per schema holds an advisory lock, migrations take their own advisory lock.

Background work, checked for N copies on one machine (the same as N pods):
- JetStream durable pull consumers (directories, indexer lanes, triggers, timekeeping, delivery,
  data quality's handover, tenant purgers, identity's deletion reports): the processes fetch from
  the same durable, so each event goes to one of them; handlers are idempotent (inbox).
- Outbox relays: one per schema holds ``pg_try_advisory_lock``, the others wait as standbys.
- Queues: bulk imports/exports (``records.bulk_jobs``), workflows' queue and timers, notifications'
  deliveries and webhook queue: leased with ``FOR UPDATE SKIP LOCKED``.
- NATS request/reply (identity's resolver, records' commands, replay, workload): queue groups.
- Core NATS fan-out (the principal cache's invalidation, push to SSE streams): every process
  subscribes, which is what each needs (its own cache, its own open streams).
- Periodic jobs run in every process, each safe to run twice: identity's housekeeping (deletes
  of stale rows) and tenant purges (the tenant row locked ``FOR UPDATE`` and its status checked
  again), records' purge (deletes), the public pool (a per-tenant advisory lock), search's GIN
  pending-list merge, search's reconciliation (one reindex run per tenant).
- Workflows' start-up backfill runs in one process at a time (``shared.db.advisory_lock``); the
  others leave it to that one.
- Migrations: every process runs them at start under their advisory lock; the first applies.
- Per-process resources: the import validator and the search document builders are each
  process's own (``HUIKE_SEARCH_WORKERS`` defaults to the cores divided among the processes; the
  live builders are forked from their process, see below);
  the local SMTP sink listens in every process (a fixed ``HUIKE_SMTP_SINK_PORT`` is process 0's,
  the others take a free port), storing what it receives in the database every process reads.

Memory: the processes are forked from the parent, not started afresh, after the parent imported
every service and loaded jieba's dictionary, pypinyin's tables and libphonenumber's metadata
(shared/preload.py) and froze the garbage collector's view of them (``gc.freeze()``, so a
collection in a child does not write into every object and unshare its page). All of that, about
245 MiB, is in memory once, copy-on-write; each process then forks its live document builders
before it starts a thread (services/search/building.py: ``prefork``), so they share it too.
Measured on 2 cores (``bench/auth_throughput.py``, PSS): two processes take about as much as one
did when each loaded its own (README "Performance"). Forking needs one thread in the forking
process (a lock another thread holds at the fork stays held in the child for ever): nothing
before a fork opens a socket other than the listening ones, starts a thread or an event loop, or
connects to PostgreSQL or NATS, and the parent supervises its embedded servers from the same loop
that restarts the processes (``tick``), not from a thread. The child leaves the parent's stack at
once (``os._exit``): it never runs the parent's clean-up.

The port: the parent binds one listening socket per process, all with ``SO_REUSEPORT``, and hands
socket *i* to process *i* (the others' are closed in the child). The kernel spreads new connections over the sockets by
their addresses, so every process gets its share (one shared accept queue lets whichever process
wakes first take most of them). The parent keeps every socket open: a process that crashed is
restarted on the same socket, and connections that arrived meanwhile wait in its queue instead of
being refused, and nothing else can take the port.

Readiness of the whole: a few bytes of memory every process maps (a ``memfd``): the parent writes
whether its embedded PostgreSQL and NATS are healthy, each process whether it is serving (the
parent clears the byte of a process that died). Every process's ``/readyz`` reads them all.

Every process dies with its parent (``shared.workers.die_with_parent``: the kernel's parent-death
signal plus a watchdog), however the parent dies.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from shared.preload import fork_safe, freeze

log = logging.getLogger("huike.processes")

BACKLOG = 2048  # uvicorn's default
STOP_SECONDS = 30.0  # uvicorn drains for up to 20 s, then the runtime stops its background work
FIRST_RESTART_DELAY = 1.0  # as the embedded servers: 1 s, doubling to 30 s while it keeps dying young
MAX_RESTART_DELAY = 30.0
STABLE_SECONDS = 30.0  # a process that served this long before it died restarts without back-off
POLL_SECONDS = 0.2
START_ATTEMPTS = 3


def supported() -> bool:
    """SO_REUSEPORT and memfd: Linux (and the BSDs for the first); elsewhere one process serves."""
    return hasattr(socket, "SO_REUSEPORT") and hasattr(os, "memfd_create")


class StartupFailed(RuntimeError):
    """A server process exited before it ever served (bad configuration, a failed migration)."""


class SharedHealth:
    """Byte 0: the parent's servers are healthy; byte 1 + i: process i is serving."""

    def __init__(self, fd: int, processes: int) -> None:
        self.fd = fd
        self.processes = processes
        self._map = mmap.mmap(fd, processes + 1)

    @classmethod
    def create(cls, processes: int) -> SharedHealth:
        fd = os.memfd_create("huike-health", 0)
        os.ftruncate(fd, processes + 1)
        return cls(fd, processes)

    def set_servers_healthy(self, healthy: bool) -> None:
        self._map[0] = 1 if healthy else 0

    def set_serving(self, index: int, serving: bool) -> None:
        self._map[1 + index] = 1 if serving else 0

    def servers_healthy(self) -> bool:
        return self._map[0] == 1

    def serving(self, index: int) -> bool:
        return self._map[1 + index] == 1

    def all_serving(self) -> bool:
        return all(self._map[1 + i] == 1 for i in range(self.processes))


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to the same address with SO_REUSEPORT, inheritable by children."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass
class _Child:
    index: int
    sock: socket.socket
    pid: int | None = None
    returncode: int | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    delay: float = FIRST_RESTART_DELAY

    def poll(self) -> int | None:
        """The exit code once the process ended (reaped here), else None; a signal is -signum."""
        if self.pid is None or self.returncode is not None:
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: gone all the same
            self.returncode = 1
            return self.returncode
        if pid == 0:
            return None
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def running(self) -> bool:
        return self.pid is not None and self.poll() is None


# What a forked HTTP process runs: (index, its socket, the shared health bytes) -> exit code.
ChildMain = Callable[[int, socket.socket, SharedHealth], int]


class ServerProcesses:
    """The parent's side: fork N HTTP processes, restart the ones that die, keep the shared health
    bytes true, stop them all.

    The processes are forked, not started afresh: what the parent loaded before (shared/preload.py)
    is shared by all of them, copy-on-write. So the parent must be single-threaded whenever it
    forks (a thread holding a lock at the fork leaves it held forever in the child): it runs
    ``tick`` (the embedded servers' supervision) from this loop rather than from a thread."""

    def __init__(self, host: str, port: int, count: int, child_main: ChildMain,
                 servers_healthy: Callable[[], bool] | None = None, tick: Callable[[], None] | None = None) -> None:
        self.count = count
        self.child_main = child_main
        self.servers_healthy = servers_healthy or (lambda: True)
        self.tick = tick or (lambda: None)
        self.health = SharedHealth.create(count)
        self.health.set_servers_healthy(self.servers_healthy())
        self.children = [_Child(i, sock) for i, sock in enumerate(listening_sockets(host, port, count))]

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None and c.running()]

    def _spawn(self, child: _Child) -> None:
        if not fork_safe():
            log.warning("forking HTTP process %d while %d threads run", child.index, threading.active_count())
        self.health.set_serving(child.index, False)
        freeze()
        sys.stdout.flush()
        sys.stderr.flush()
        # SIGTERM and SIGINT wait until the child has left this stack: a KeyboardInterrupt raised in
        # the child here would unwind into the parent's clean-up and stop the parent's servers.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            code = 1
            try:
                for other in self.children:
                    if other is not child:
                        other.sock.close()
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                code = self.child_main(child.index, child.sock, self.health)
            except BaseException:  # noqa: BLE001 - one traceback, then the exit code
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.pid, child.returncode = pid, None
        child.started_at, child.restart_at = time.monotonic(), None

    def start(self, timeout: float = 300.0) -> None:
        """Start every process and wait until each serves. A process that exits before it served
        is started again (a NATS or PostgreSQL request that timed out on a busy machine), up to
        START_ATTEMPTS times; then StartupFailed (what fails every time is not passing)."""
        for child in self.children:
            self._spawn(child)
        attempts = dict.fromkeys(range(self.count), 1)
        deadline = time.monotonic() + timeout
        while not all(self.health.serving(c.index) for c in self.children):
            self.tick()
            self.health.set_servers_healthy(self.servers_healthy())
            for child in self.children:
                code = child.poll()
                if code is None:
                    continue
                if attempts[child.index] >= START_ATTEMPTS:
                    raise StartupFailed(f"HTTP process {child.index} exited with code {code} before it served "
                                        f"({START_ATTEMPTS} times)")
                attempts[child.index] += 1
                log.warning("HTTP process %d exited with code %s at start-up; starting it again", child.index, code)
                self._spawn(child)
            if time.monotonic() > deadline:
                raise StartupFailed(f"the HTTP processes did not all serve within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def supervise_once(self) -> None:
        """One round: supervise the servers, publish their health, note processes that died,
        restart those due."""
        self.tick()
        self.health.set_servers_healthy(self.servers_healthy())
        now = time.monotonic()
        for child in self.children:
            if child.pid is not None and child.restart_at is None:
                code = child.poll()
                if code is None:
                    continue
                self.health.set_serving(child.index, False)
                lived = now - child.started_at
                child.delay = FIRST_RESTART_DELAY if lived >= STABLE_SECONDS else min(child.delay * 2, MAX_RESTART_DELAY)
                child.restart_at = now + child.delay
                log.error("HTTP process %d (pid %d) exited with code %s after %.0f s; restarting it in %.1f s",
                          child.index, child.pid, code, lived, child.delay)
            elif child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)

    def run_forever(self) -> None:
        """Supervise until interrupted (SIGTERM and SIGINT raise KeyboardInterrupt in ``huike run``)."""
        while True:
            self.supervise_once()
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """SIGTERM every process (each drains its requests and stops its work), SIGKILL the late."""
        running = [c for c in self.children if c.running()]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + STOP_SECONDS
        for child in running:
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.poll() is None:
                log.error("HTTP process %d did not stop within %.0f s: killed", child.pid, STOP_SECONDS)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, 0)  # type: ignore[arg-type]
        for child in self.children:
            child.sock.close()
        with contextlib.suppress(OSError):
            os.close(self.health.fd)
