"""The platform operator's dead-letter endpoints (``huike dead-letters list|replay`` calls them).

* ``GET /api/v1/operator/dead-letters?after=&limit=`` → the dead letters, oldest first;
* ``POST /api/v1/operator/dead-letters/{sequence}/replay`` → publishes one to its original
  subject again and deletes it (404 when there is no such dead letter);
* ``POST /api/v1/operator/dead-letters/replay`` → replays every dead letter there is.

``Authorization: Bearer <HUIKE_OPERATOR_TOKEN>``; the routes do not exist without an operator token.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter, SkipValidation

from shared.errors import NotFound, ServiceUnavailable
from shared.events.bus import Bus
from shared.events.dead_letters import DeadLetter, ReplayFailure, list_dead_letters, replay_all, replay_dead_letter
from shared.http.operator import operator_only
from shared.runtime import Runtime

RuntimeDep = NamedDependency[SkipValidation[Runtime]]  # as in shared.http (which imports this module)


def _bus(runtime: Runtime) -> Bus:
    if runtime.bus is None or not runtime.bus.is_connected:
        raise ServiceUnavailable("NATS is not connected; dead letters cannot be read or replayed now")
    return runtime.bus


@get("/dead-letters", tags=["operator"])
async def dead_letters(
    runtime: RuntimeDep,
    after: Annotated[int, Parameter(ge=0, le=2**63 - 1,
                                           description="list those with a higher sequence (paging)")] = 0,
    limit: Annotated[int, Parameter(ge=1, le=500, description="at most this many")] = 100,
) -> list[DeadLetter]:
    """Events consumers gave up on, with the reason, oldest first."""
    return await list_dead_letters(_bus(runtime), after=after, limit=limit)


@post("/dead-letters/{sequence:int}/replay", tags=["operator"], status_code=200)
async def replay_one(sequence: FromPath[int], runtime: RuntimeDep) -> DeadLetter:
    """Publish one dead letter to its original subject again (then it is deleted)."""
    replayed = await replay_dead_letter(_bus(runtime), sequence)
    if replayed is None:
        raise NotFound(f"No dead letter {sequence} (replayed already?)")
    return replayed


class ReplayedAll(msgspec.Struct, kw_only=True):
    replayed: int
    dead_letters: list[DeadLetter]      # those replayed (and deleted)
    failed: list[ReplayFailure]         # those kept, with why


@post("/dead-letters/replay", tags=["operator"], status_code=200)
async def replay_every(runtime: RuntimeDep) -> ReplayedAll:
    """Replay every dead letter there is now, oldest first; those that cannot be replayed (their
    stream is gone) are listed under ``failed`` and kept."""
    replayed, failed = await replay_all(_bus(runtime))
    return ReplayedAll(replayed=len(replayed), dead_letters=replayed, failed=failed)


def dead_letter_router(prefix: str) -> Router:
    return Router(path=f"{prefix}/operator", route_handlers=[dead_letters, replay_one, replay_every],
                  guards=[operator_only], opt={"exclude_from_auth": True})
