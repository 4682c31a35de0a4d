"""The one step walker: a real run and the dry run go through the same loop, so they cannot drift.

What differs is behind two seams: the ``Effects`` a step acts through (records commands and events,
or descriptions of them: ``steps.py``) and the ``Journal`` that keeps each step's outcome (the run
log in the database, or the dry run's answer). A real run resumes from its journal: a step recorded
as done is not done again (a branch takes the way it took) and a waiting step ends the walk; the dry
run's journal is empty and it walks on past waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from services.workflows.domain import definitions as d
from services.workflows.domain.steps import Effects, Outcome, RunState, run_step
from services.workflows.records_client import CommandFailed


class Journal(Protocol):
    # True for a real run: a step that waits (a timer, a condition, an approval) ends the walk.
    stops_at_waits: bool

    def recorded(self, path: str) -> Any | None:
        """The step's recorded outcome (``status``, ``output``), or None when it has not run."""
        ...

    async def approval_ended(self, path: str, state: RunState) -> bool:
        """The approval this waiting step requested has ended (its decision recorded as the step's
        output, ``state.approval`` set); False while it is pending."""
        ...

    async def record(self, path: str, step: d.Step, outcome: Outcome, started: float) -> None:
        """Keep the outcome of a step just done (``started``: its ``time.perf_counter()``)."""
        ...


@dataclass
class WalkEnd:
    status: Literal["succeeded", "failed", "waiting", "waiting_for_approval"]
    error: str | None = None
    path: str | None = None


def paths(steps: list[d.Step], prefix: str = "steps") -> Iterator[tuple[str, d.Step]]:
    """(path, step) in order; the caller sends "then"/"else" into the generator after a branch."""
    for index, step in enumerate(steps):
        path = f"{prefix}[{index}]"
        took = yield path, step
        if isinstance(step, d.Branch) and took in ("then", "else"):
            yield from paths(step.then if took == "then" else step.else_, f"{path}.{took}")


async def walk(steps: list[d.Step], state: RunState, effects: Effects, journal: Journal) -> WalkEnd:
    """Walk ``steps`` from the first one not recorded as done, until the end, a stop, a failure or a wait."""
    walker = paths(steps)
    took: str | None = None
    while True:
        try:
            path, step = walker.send(took) if took is not None else next(walker)
        except StopIteration:
            return WalkEnd("succeeded")
        took = None
        recorded = journal.recorded(path)
        if recorded is not None and recorded["status"] == "succeeded":
            took = (recorded["output"] or {}).get("took")
            continue
        if recorded is not None and recorded["status"] == "waiting":
            if isinstance(step, d.Wait) and step.until is None:
                return WalkEnd("waiting", path=path)   # still waiting on its timer
            if isinstance(step, d.RequestApproval):
                if not await journal.approval_ended(path, state):
                    return WalkEnd("waiting", path=path)
                continue
            # A "wait until" is checked again (its record changed).
        started = time.perf_counter()
        try:
            outcome = await run_step(step, path, state, effects)
        except CommandFailed as exc:
            outcome = Outcome("failed", error=f"records refused: {exc}")
        await journal.record(path, step, outcome, started)
        if outcome.status == "failed":
            return WalkEnd("failed", error=f"{path}: {outcome.error}", path=path)
        if outcome.status == "waiting" and journal.stops_at_waits:
            status: Literal["waiting", "waiting_for_approval"] = (
                "waiting_for_approval" if isinstance(step, d.RequestApproval) else "waiting")
            return WalkEnd(status, path=path)
        if outcome.status == "stopped":
            return WalkEnd("succeeded", path=path)
        took = outcome.took


__all__ = ["Journal", "WalkEnd", "paths", "walk"]
