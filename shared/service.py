"""What a service hands to the platform: its name, migrations, routes and background work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.runtime import Runtime


class Stoppable(Protocol):
    async def stop(self) -> None: ...


Starter = Callable[["Runtime"], Awaitable[Stoppable]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the PostgreSQL schema and the event subject segment: crm.<name>.<tenant>...
    migrations_dir: Path
    route_handlers: Sequence[Any] = ()
    # Background work started after the pool and bus are up: consumers, RPC responders, timers.
    starters: Sequence[Starter] = field(default_factory=tuple)

    @property
    def schema(self) -> str:
        return self.name
