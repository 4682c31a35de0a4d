"""``huike.rpc.records.workload``: how much open work each of some users holds, for workflows'
least-loaded assignment (workflows never reads records' tables).

The request names the tenant, the kind of work (``customer``: customers owned and not churned;
``task``: open tasks assigned; ``objection``: unresolved objections assigned; ``opportunity``: open
opportunities owned) and at most 500 user ids; the answer is ``{"counts": {user id: n}}``, read
in the tenant's unit (row-level security), so another tenant's users count 0.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from services.records.db import workload as store
from shared.tenancy import scope_for_system
from shared.unavailable import is_unavailable

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.workload")

WORKLOAD_SUBJECT = "huike.rpc.records.workload"
QUEUE = "records-workload"


class WorkloadRequest(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    kind: Literal["customer", "task", "objection", "opportunity"]
    user_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=500)]


class WorkloadResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: int
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    detail: str | None = None


class WorkloadResponder:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db("records")
        self._subscription: Any = None

    async def start(self) -> WorkloadResponder:
        assert self.runtime.bus is not None
        self._subscription = await self.runtime.bus.nc.subscribe(WORKLOAD_SUBJECT, queue=QUEUE, cb=self._on_request)
        return self

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def handle(self, request: WorkloadRequest) -> WorkloadResponse:
        async with self.db.tenant_unit(scope_for_system(request.tenant_id)) as unit:
            counts = await store.open_work(unit, request.kind, list(dict.fromkeys(request.user_ids)))
        return WorkloadResponse(status=200, counts={str(k): v for k, v in counts.items()})

    async def _on_request(self, msg: Any) -> None:
        try:
            answer = await self.handle(msgspec.json.decode(msg.data, type=WorkloadRequest))
        except msgspec.DecodeError as exc:  # includes a bad kind or too many ids
            answer = WorkloadResponse(status=400, detail=str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - the caller gets a reason; we keep serving
            if not is_unavailable(exc):
                log.exception("records workload failed")
            answer = WorkloadResponse(status=503 if is_unavailable(exc) else 500, detail=str(exc)[:300])
        await msg.respond(msgspec.json.encode(answer))


async def start_workload(runtime: Runtime) -> WorkloadResponder:
    return await WorkloadResponder(runtime).start()
