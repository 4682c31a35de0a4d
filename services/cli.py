"""``huike``: run the embedded default, serve one service, migrate, operate tenants.

    huike run                      every service, with embedded PostgreSQL and NATS unless
                                   HUIKE_DATABASE_URL and HUIKE_NATS_URL point elsewhere; one HTTP
                                   process per usable core, at most 2 (or HUIKE_HTTP_PROCESSES of
                                   them), all on one port, forked from it after it loaded what
                                   they share
    huike serve identity [...]     the named services only, against external servers
    huike migrate [service ...]    apply migrations as the owning role (the Helm hook runs this)
    huike tenants list|show|suspend|reactivate|delete [--immediately] ...
                                   platform operator commands, through the operator API
    huike dead-letters list|replay [--all|SEQUENCE]
    huike openapi                  print the OpenAPI document (no server needed; the console's client is generated from it)
                                   events consumers gave up on; replay sends them to their subject again
    huike mail list [--to ADDRESS] | show ID
                                   mail the local SMTP sink caught (embedded default, no HUIKE_SMTP_HOST)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:  # the operator commands start without the servers' imports
    from shared.embedded import Supervisor
    from shared.processes import SharedHealth

log = logging.getLogger("huike.cli")

# The default's cap: two processes forked from one parent fit the embedded default's memory target
# (~600 MiB PSS at rest, README "Performance"): each one more adds ~70 MiB of its own pages, its
# document builder's few, and ~14 PostgreSQL connections. A bigger machine asks for more by number.
MAX_DEFAULT_HTTP_PROCESSES = 2


def _fail(message: str, code: int = 2) -> int:
    print(f"huike: {message}", file=sys.stderr)
    return code


async def _serve(settings: Settings, service_names: list[str], *, migrate_first: bool,
                 checks: dict[str, Callable[[], bool]] | None = None, sockets: list[socket.socket] | None = None,
                 on_serving: Callable[[bool], None] | None = None, announce: bool = True) -> None:
    """Serve on ``settings.host:port``, or on ``sockets`` a parent listens on (``huike run`` with
    several processes); ``on_serving(True)`` once requests are answered, ``(False)`` at shutdown."""
    import uvicorn

    from services.registry import ALL_SERVICES, BY_NAME, migrate_all
    from shared.http import create_app
    from shared.http.server import ProblemHttpProtocol
    from shared.runtime import Runtime
    from shared.telemetry import setup_logging, setup_tracing

    setup_logging(settings.log_level, settings.log_format)
    specs = tuple(BY_NAME[n] for n in service_names) if service_names else ALL_SERVICES
    setup_tracing(settings.service_name if len(specs) > 1 else f"huike-{specs[0].name}", settings.otlp_endpoint)
    if migrate_first:
        await migrate_all(settings, specs)
    runtime = Runtime(settings, specs)
    for name, check in (checks or {}).items():
        runtime.add_check(name, check)
    app = create_app(runtime, documented=ALL_SERVICES)  # /schema: the whole API's document, in any process
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, lifespan="on",
        timeout_graceful_shutdown=20, proxy_headers=False, server_header=False,
        http=ProblemHttpProtocol,  # a request uvicorn cannot parse answers problem+json too
    )
    server = _server_class()(config, on_serving)
    if announce:
        print(f"huike: serving {', '.join(s.name for s in specs)} on http://{settings.host}:{settings.port}",
              file=sys.stderr)
    await server.serve(sockets=sockets)
    if not server.started:
        raise RuntimeError(f"could not serve on {settings.host}:{settings.port}")


def _server_class() -> Any:
    import uvicorn  # here, not at the top: the operator commands start without the server's imports

    class Server(uvicorn.Server):
        """uvicorn's server, telling ``on_serving`` when it starts and stops answering."""

        def __init__(self, config: uvicorn.Config, on_serving: Callable[[bool], None] | None) -> None:
            super().__init__(config)
            self.on_serving = on_serving

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.on_serving is not None:
                self.on_serving(True)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if self.on_serving is not None:
                self.on_serving(False)
            await super().shutdown(sockets=sockets)

    return Server


def _run_server(coroutine: Any) -> None:
    """Run the server's event loop on uvloop where installed: ``asyncio.run`` makes the standard
    selector loop, and uvicorn only picks uvloop for loops it creates itself (it does not here),
    so without this every request paid the pure-Python loop's cost (a third of /healthz's CPU)."""
    try:
        import uvloop
    except ImportError:  # Windows, or a trimmed install: the standard loop
        asyncio.run(coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    from shared.embedded import EmbeddedError, EmbeddedServers, data_dir_problem, port_is_free

    # SIGTERM stops us like Ctrl-C does, so the finally below always stops the embedded servers.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = load_settings()
    if not port_is_free(settings.host, settings.port):
        return _fail(f"port {settings.port} on {settings.host} is already in use; stop what uses it or set HUIKE_PORT")
    servers: EmbeddedServers | None = None
    overrides: dict[str, Any] = {}
    try:
        if settings.embedded:
            try:
                servers = EmbeddedServers(settings.data_dir)
                servers.start()
            except OSError as exc:  # the data directory: unwritable, full
                return _fail(data_dir_problem(settings.data_dir.resolve(), exc), 1)
            overrides = {
                "database_url": servers.postgres.app_url,
                "database_owner_url": servers.postgres.owner_url,
                "nats_url": servers.nats.url,
                "jwt_secret": settings.jwt_secret or servers.secrets.jwt_secret,
                "operator_token": settings.operator_token or servers.secrets.operator_token,
                "readiness_disk_path": settings.readiness_disk_path or servers.data_dir,
            }
            settings = load_settings(**overrides)
            print(f"huike: embedded PostgreSQL and NATS running, data in {servers.data_dir}", file=sys.stderr)
        elif not settings.jwt_secret:
            return _fail("HUIKE_JWT_SECRET must be set when running against external servers")
        processes = _http_processes(settings)
        if processes == 1:
            _prefork_builders(settings)  # before the supervisor's thread: this process forks them
            checks: dict[str, Callable[[], bool]] = {}
            if servers is not None:
                # From now on a server that dies is restarted (and /readyz says 503 until it is back).
                checks["embedded servers"] = servers.supervise().healthy
            _run_server(_serve(settings, [], migrate_first=True, checks=checks))
            return 0
        # Several: the parent forks them, so it stays single-threaded and supervises from its loop.
        supervisor = servers.supervise(thread=False) if servers is not None else None
        return _run_processes(settings, processes, overrides, supervisor)
    except EmbeddedError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - one clear line, then exit non-zero
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    finally:
        if servers is not None:
            servers.stop()


def _prefork_builders(settings: Settings, *, preloaded: bool = False) -> None:
    """Load what every process shares (shared/preload.py), then fork search's live document
    builders from this process while it has one thread: they share its dictionaries."""
    from services.search.building import prefork, worker_count
    from shared.preload import fork_safe, freeze, preload

    if not preloaded:
        preload()
    if not fork_safe():  # a thread could hold a lock the workers would inherit held: spawn them later
        log.warning("not forking the document builders: %d threads run", threading.active_count())
        return
    freeze()
    try:
        prefork(worker_count(settings.search_workers))
    except OSError as exc:  # no memory or process slot now: the builder spawns its workers on first use
        log.warning("could not fork the document builders (%s); they start on first use", exc)


def _http_processes(settings: Settings) -> int:
    from shared import processes
    from shared.cpu import usable_cpus

    wanted = settings.http_processes or min(usable_cpus(), MAX_DEFAULT_HTTP_PROCESSES)
    if wanted > 1 and not processes.supported():
        log.warning("several HTTP processes need SO_REUSEPORT and memfd (Linux): serving with one")
        return 1
    return wanted


def _run_processes(settings: Settings, count: int, overrides: dict[str, Any], supervisor: Supervisor | None) -> int:
    """``huike run`` with ``count`` HTTP processes (shared/processes.py): load what they share,
    fork them, restart the ones that die, stop them all on SIGTERM or Ctrl-C (KeyboardInterrupt,
    caught by the caller)."""
    from shared.cpu import usable_cpus
    from shared.preload import preload
    from shared.processes import ServerProcesses, StartupFailed
    from shared.telemetry import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    # The processes read the embedded servers' URLs and generated secrets from the environment.
    os.environ.update({f"HUIKE_{name.upper()}": str(value) for name, value in overrides.items()})
    if not settings.search_workers:  # the cores are shared out: not a pool of document builders per core each
        os.environ["HUIKE_SEARCH_WORKERS"] = str(max(1, usable_cpus() // count))
    preload()
    parent_pid = os.getpid()

    def child_main(index: int, sock: socket.socket, health: SharedHealth) -> int:
        return _http_process(index, sock, health, parent_pid)

    group = ServerProcesses(settings.host, settings.port, count, child_main,
                            servers_healthy=supervisor.healthy if supervisor is not None else None,
                            tick=supervisor.check if supervisor is not None else None)
    try:
        print(f"huike: starting {count} HTTP processes on http://{settings.host}:{settings.port}", file=sys.stderr)
        try:
            group.start()
        except StartupFailed as exc:
            return _fail(str(exc), 1)
        print(f"huike: serving every service on http://{settings.host}:{settings.port} with {count} processes "
              f"(pids {', '.join(map(str, group.pids()))})", file=sys.stderr)
        group.run_forever()
    finally:
        group.stop()
    return 0


def _http_process(index: int, sock: socket.socket, health: SharedHealth, parent_pid: int) -> int:
    """One of ``huike run``'s HTTP processes, just forked from it: fork its document builders while
    it has one thread, serve on its socket, tell the parent through the shared health bytes, die
    with the parent."""
    from shared.workers import die_with_parent, name_process

    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: the runtime stops its work first
    checks: dict[str, Callable[[], bool]] = {
        "embedded servers": health.servers_healthy,  # the parent supervises them
        "http processes": health.all_serving,  # every process of the whole serves
    }
    try:
        name_process(f"huike-http-{index}")
        # A fixed port of the local SMTP sink is the first process's; the others' sinks take any.
        settings = load_settings() if index == 0 else load_settings(smtp_sink_port=0)
        _prefork_builders(settings, preloaded=True)
        die_with_parent(parent_pid)  # its watchdog is a thread: after the builders' fork
        _run_server(_serve(settings, [], migrate_first=True, checks=checks, sockets=[sock], announce=False,
                           on_serving=lambda serving: health.set_serving(index, serving)))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - one clear line, then exit non-zero (the parent restarts it)
        return _fail(f"HTTP process {index}: {type(exc).__name__}: {exc}", 1)
    finally:
        health.set_serving(index, False)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from services.registry import BY_NAME

    unknown = [n for n in args.services if n not in BY_NAME]
    if unknown:
        return _fail(f"unknown service {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    settings = load_settings()
    if settings.embedded:
        return _fail("huike serve needs HUIKE_DATABASE_URL and HUIKE_NATS_URL (use `huike run` for the embedded default)")
    if not settings.jwt_secret:
        return _fail("HUIKE_JWT_SECRET must be set")
    try:
        if "search" in args.services:  # its document builders share this process's dictionaries
            _prefork_builders(settings)
        _run_server(_serve(settings, args.services, migrate_first=args.migrate))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.registry import ALL_SERVICES, BY_NAME, migrate_all

    settings = load_settings()
    if not settings.database_owner_url:
        return _fail("HUIKE_DATABASE_OWNER_URL must be set to migrate")
    specs = tuple(BY_NAME[n] for n in args.services) if args.services else ALL_SERVICES
    applied = asyncio.run(migrate_all(settings, specs))
    print(f"huike: applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}", file=sys.stderr)
    return 0


def _operator_client(settings: Settings, url: str | None) -> Any:
    import httpx

    token = settings.operator_token
    secrets_file = settings.data_dir / "secrets.json"
    if not token and secrets_file.exists():
        token = json.loads(secrets_file.read_text())["operator_token"]
    if not token:
        raise SettingsError("HUIKE_OPERATOR_TOKEN is not set (and no embedded secrets found)")
    base = url or os.environ.get("HUIKE_URL") or f"http://{settings.host}:{settings.port}"
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def cmd_tenants(args: argparse.Namespace) -> int:
    settings = load_settings()
    with _operator_client(settings, args.url) as http:
        base = "/api/v1/operator/tenants"
        if args.action == "list":
            response = http.get(base, params={"limit": 200})
        elif args.action == "suspend":
            response = http.post(f"{base}/{args.tenant}/suspend", json={"reason": args.reason or ""})
        elif args.action == "reactivate":
            response = http.post(f"{base}/{args.tenant}/reactivate")
        elif args.action == "show":  # with the progress of a deletion
            response = http.get(f"{base}/{args.tenant}")
        else:
            response = http.delete(f"{base}/{args.tenant}", params={"immediately": str(args.immediately).lower()})
    print(json.dumps(response.json(), indent=2, ensure_ascii=False) if response.content else response.status_code)
    return 0 if response.is_success else 1


def cmd_search(args: argparse.Namespace) -> int:
    """Rebuild one tenant's search index in the background (the running system does the work)."""
    settings = load_settings()
    with _operator_client(settings, args.url) as http:
        response = http.post(f"/api/v1/operator/search/reindex/{args.tenant}")
    print(json.dumps(response.json(), indent=2, ensure_ascii=False) if response.content else response.status_code)
    return 0 if response.is_success else 1


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """List dead letters, or replay them to their original subjects (through the running system)."""
    settings = load_settings()
    base = "/api/v1/operator/dead-letters"
    with _operator_client(settings, args.url) as http:
        if args.action == "list":
            response = http.get(base, params={"limit": args.limit})
        elif args.all:
            response = http.post(f"{base}/replay")
        else:
            response = http.post(f"{base}/{args.sequence}/replay")
    print(json.dumps(response.json(), indent=2, ensure_ascii=False) if response.content else response.status_code)
    return 0 if response.is_success else 1


def cmd_mail(args: argparse.Namespace) -> int:
    """What the local SMTP sink caught, through the running system's operator API."""
    settings = load_settings()
    with _operator_client(settings, args.url) as http:
        if args.action == "list":
            params: dict[str, Any] = {"limit": args.limit}
            if args.to:
                params["to"] = args.to
            response = http.get("/api/v1/operator/mail", params=params)
            if response.is_success:
                for item in response.json()["items"]:
                    print(f"{item['id']:>6}  {item['received_at'][:19]}  {', '.join(item['rcpt_to'])}  {item['subject']}")
                return 0
        else:
            response = http.get(f"/api/v1/operator/mail/{args.id}")
            if response.is_success:
                mail = response.json()
                print(f"From: {mail['mail_from']}\nTo: {', '.join(mail['rcpt_to'])}\nSubject: {mail['subject']}"
                      f"\nDate: {mail['received_at']}\n\n{mail['text']}")
                return 0
    print(json.dumps(response.json(), indent=2, ensure_ascii=False) if response.content else response.status_code)
    return 1


def cmd_openapi(args: argparse.Namespace) -> int:
    """The document ``/schema/openapi.json`` serves, built from the code without starting anything."""
    from services.registry import ALL_SERVICES
    from shared.http import create_app
    from shared.runtime import Runtime

    app = create_app(Runtime(load_settings(jwt_secret="unused-openapi-only"), ALL_SERVICES), manage_runtime=False)
    document = app.openapi_schema.to_schema()
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huike", description="Huike CRM")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run everything in one process (embedded PostgreSQL and NATS by default)")
    serve = commands.add_parser("serve", help="serve the named services against external servers")
    serve.add_argument("services", nargs="+")
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")
    migrate = commands.add_parser("migrate", help="apply migrations (all services unless named)")
    migrate.add_argument("services", nargs="*")
    tenants = commands.add_parser("tenants", help="platform operator commands")
    tenants.add_argument("action", choices=["list", "show", "suspend", "reactivate", "delete"])
    tenants.add_argument("tenant", nargs="?", help="tenant id")
    tenants.add_argument("--reason", default="")
    tenants.add_argument("--immediately", action="store_true", help="delete: no grace period, purge now")
    tenants.add_argument("--url", default=None, help="base URL of the API (default http://HUIKE_HOST:HUIKE_PORT)")
    search = commands.add_parser("search", help="search index operator commands")
    search.add_argument("action", choices=["reindex"])
    search.add_argument("tenant", help="tenant id")
    search.add_argument("--url", default=None, help="base URL of the API (default http://HUIKE_HOST:HUIKE_PORT)")
    dead = commands.add_parser("dead-letters", help="events consumers gave up on: list them, replay them")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("sequence", nargs="?", type=int, help="the dead letter to replay (its sequence, from list)")
    dead.add_argument("--all", action="store_true", help="replay every dead letter")
    dead.add_argument("--limit", type=int, default=100, help="list at most this many")
    dead.add_argument("--url", default=None, help="base URL of the API (default http://HUIKE_HOST:HUIKE_PORT)")
    mail = commands.add_parser("mail", help="mail the local SMTP sink caught: list it, show one")
    mail.add_argument("action", choices=["list", "show"])
    mail.add_argument("id", nargs="?", type=int, help="show: the mail's id (from list)")
    mail.add_argument("--to", default=None, help="list: only mail to this address")
    mail.add_argument("--limit", type=int, default=50, help="list at most this many")
    mail.add_argument("--url", default=None, help="base URL of the API (default http://HUIKE_HOST:HUIKE_PORT)")
    commands.add_parser("openapi", help="print the OpenAPI document as JSON (no server needed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tenants" and args.action != "list" and not args.tenant:
        return _fail(f"huike tenants {args.action} needs a tenant id")
    if args.command == "dead-letters" and args.action == "replay" and (args.sequence is None) == (not args.all):
        return _fail("huike dead-letters replay needs either a dead letter's sequence or --all")
    if args.command == "mail" and args.action == "show" and args.id is None:
        return _fail("huike mail show needs a mail's id (huike mail list shows them)")
    handlers = {"mail": cmd_mail, "run": cmd_run, "serve": cmd_serve, "migrate": cmd_migrate, "tenants": cmd_tenants,
                "search": cmd_search, "dead-letters": cmd_dead_letters, "openapi": cmd_openapi}
    try:
        return handlers[args.command](args)
    except SettingsError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
