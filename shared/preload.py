"""Load once, share by fork: what every HTTP process and document builder holds read-only.

``huike run`` with several HTTP processes forks them from itself (shared/processes.py), and each
forks its live document builders before it starts a thread (services/search/building.py). What
the parent loaded before the fork is shared copy-on-write by all of them instead of being loaded
again in each: measured on the embedded default, the imports of every service, Litestar, uvicorn,
asyncpg and nats (~160 MiB), jieba's dictionary and pypinyin's tables (~75 MiB), libphonenumber's
metadata and cleanco's legal forms (a few MiB).

``freeze()`` moves every object made so far to the garbage collector's permanent generation: a
collection in a child would otherwise write into every object's header and unshare the pages.

Nothing here opens a socket, starts a thread or an event loop, or connects to anything: after
``preload()`` the process is still safe to fork.
"""

from __future__ import annotations

import gc
import logging
import threading

log = logging.getLogger("huike.preload")


def preload() -> None:
    """Import the services and the HTTP stack, and load the dictionaries and tables they read."""
    import uvicorn  # noqa: F401 - imported for its pages
    from phonenumbers import PhoneMetadata

    import services.records.domain.imports  # noqa: F401 - the import validator's modules
    import services.registry  # noqa: F401 - every service's modules
    import services.search.building  # noqa: F401
    import shared.http.server  # noqa: F401
    from services.search.text import warm_up

    warm_up()  # jieba's dictionary, pypinyin's tables
    PhoneMetadata.load_all()  # libphonenumber loads a region's metadata on first use otherwise
    _build_an_app()
    try:
        import uvloop  # noqa: F401
    except ImportError:  # the standard loop
        pass


def _build_an_app() -> None:
    """Build the whole application once and drop it: what Litestar and msgspec import and cache
    per type on the way (handlers' signatures, encoders, decoders) is then the parent's, shared.
    No runtime is started (``manage_runtime=False``, as ``huike openapi``): nothing connects."""
    from services.registry import ALL_SERVICES
    from shared.http import create_app
    from shared.runtime import Runtime
    from shared.settings import load_settings

    create_app(Runtime(load_settings(jwt_secret="preload-only-never-serves"), ALL_SERVICES), manage_runtime=False,
               documented=ALL_SERVICES)


def freeze() -> None:
    """Before a fork: collect once, then exempt every object that exists from later collections."""
    gc.collect()
    gc.freeze()


def fork_safe() -> bool:
    """One thread (this one): a fork copies no lock another thread holds."""
    return threading.active_count() == 1
