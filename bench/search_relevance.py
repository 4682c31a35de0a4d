"""The relevance benchmark: recall@10 and MRR per query class on ``bench/data/relevance.json``.

Starts the embedded default (every service, embedded PostgreSQL and NATS), signs a tenant up,
writes the set's companies (customers) and people (contacts of a customer) through the records
API, waits until the search index holds them all, then asks ``GET /api/v1/search`` each query and
looks for the record it must find among the first 10 hits. With ``HUIKE_TEST_MEILISEARCH_URL``
set, the same again on a second stack whose search engine is Meilisearch.

    python -m bench.search_relevance [--misses]   (make bench-relevance)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.load import EmbeddedStack
from bench.records_load import PASSWORD
from bench.relevance_data import PATH

TOP = 10
CLASSES = ("segment", "homophone", "traditional", "phone_tail", "short",
           "exact", "word", "pinyin", "initials", "typo")


@dataclass
class ClassResult:
    queries: int = 0
    found: int = 0
    reciprocal: float = 0.0
    misses: list[str] = field(default_factory=list)


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    answer = await client.post(path, json=body, headers=headers)
    if answer.status_code not in (200, 201):
        raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
    return answer.json()


async def load(client: httpx.AsyncClient, data: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Sign up, write every record; answers (headers, set key → record id)."""
    signup = await _post(client, "/api/v1/signup", {
        "company_name": "汇客相关性评测有限公司", "admin_email": "admin@relevance.example.com",
        "admin_password": PASSWORD, "admin_name": "评测员"}, {})
    headers = {"Authorization": f"Bearer {signup['access_token']}"}  # lives 15 minutes: enough
    ids: dict[str, str] = {}
    gate = asyncio.Semaphore(4)

    async def write(record: dict[str, Any]) -> None:
        async with gate:
            fields: dict[str, Any] = {"name": record["name"]}
            if record.get("phones"):
                fields["phone"] = record["phones"][0]
            if record.get("emails"):
                fields["email"] = record["emails"][0]
            if record["kind"] == "company":
                made = await _post(client, "/api/v1/customers", fields, headers)
            else:
                made = await _post(client, "/api/v1/contacts", {**fields, "customer_id": ids[record["company"]]}, headers)
            ids[record["key"]] = made["id"]

    companies = [r for r in data["records"] if r["kind"] == "company"]
    await asyncio.gather(*(write(r) for r in companies))
    await asyncio.gather(*(write(r) for r in data["records"] if r["kind"] == "person"))
    return headers, ids


async def wait_indexed(client: httpx.AsyncClient, headers: dict[str, str], data: dict[str, Any],
                       ids: dict[str, str]) -> None:
    """Until the last written record of each kind is found by its whole name (at most 120 s)."""
    deadline = time.monotonic() + 120
    last = [data["records"][-1], [r for r in data["records"] if r["kind"] == "company"][-1]]
    for record in last:
        while True:
            answer = await client.get("/api/v1/search", params={"q": record["name"], "limit": 100}, headers=headers)
            if any(h["id"] == ids[record["key"]] for h in answer.json().get("hits", [])):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the records were not indexed within 120 s")
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # the batches written just before the last one


async def measure(client: httpx.AsyncClient, headers: dict[str, str], data: dict[str, Any],
                  ids: dict[str, str]) -> dict[str, ClassResult]:
    results = {c: ClassResult() for c in CLASSES}
    names = {r["key"]: r["name"] for r in data["records"]}
    for query in data["queries"]:
        answer = await client.get("/api/v1/search", params={"q": query["q"], "limit": TOP}, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{query['q']!r}: {answer.status_code} {answer.text}")
        hits = [h["id"] for h in answer.json()["hits"]]
        result = results[query["class"]]
        result.queries += 1
        want = ids[query["expect"]]
        if want in hits:
            result.found += 1
            result.reciprocal += 1 / (hits.index(want) + 1)
        else:
            result.misses.append(f"{query['q']} → {names[query['expect']]}")
    return results


def report(engine: str, results: dict[str, ClassResult], misses: bool) -> None:
    print(f"\n{engine}: recall@{TOP} and MRR per class")
    print(f"| class | queries | recall@{TOP} | MRR |\n| --- | ---: | ---: | ---: |")
    total = ClassResult()
    for name, r in results.items():
        if not r.queries:
            continue
        print(f"| {name} | {r.queries} | {100 * r.found / r.queries:.1f} % | {r.reciprocal / r.queries:.3f} |")
        total.queries += r.queries
        total.found += r.found
        total.reciprocal += r.reciprocal
    print(f"| **all** | {total.queries} | {100 * total.found / total.queries:.1f} % | "
          f"{total.reciprocal / total.queries:.3f} |")
    if misses:
        for name, r in results.items():
            for miss in r.misses:
                print(f"  miss [{name}] {miss}")


async def run_engine(base: str, engine: str, data: dict[str, Any], misses: bool) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        headers, ids = await load(client, data)
        await wait_indexed(client, headers, data, ids)
        report(engine, await measure(client, headers, data, ids), misses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list each query that missed")
    args = parser.parse_args()
    data = json.loads(PATH.read_text(encoding="utf-8"))
    print(f"{len(data['records'])} records, {len(data['queries'])} queries")
    engines = [("postgres", {})]
    if os.environ.get("HUIKE_TEST_MEILISEARCH_URL"):
        engines.append(("meilisearch", {"HUIKE_SEARCH_ENGINE": "meilisearch",
                                        "HUIKE_MEILISEARCH_URL": os.environ["HUIKE_TEST_MEILISEARCH_URL"]}))
    for engine, env in engines:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with EmbeddedStack() as stack:
                asyncio.run(run_engine(stack.base, engine, data, args.misses))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


if __name__ == "__main__":
    main()
