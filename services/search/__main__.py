"""Operator command: ``python -m services.search reindex <tenant_id> [--url URL]``.

Asks the running system (``HUIKE_PUBLIC_URL`` or http://HUIKE_HOST:HUIKE_PORT) to rebuild one
tenant's search index, with the operator token (``HUIKE_OPERATOR_TOKEN``, or the embedded
default's secrets file under ``HUIKE_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

import httpx

from shared.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.search")
    commands = parser.add_subparsers(dest="command", required=True)
    reindex = commands.add_parser("reindex", help="rebuild one tenant's search index in the background")
    reindex.add_argument("tenant_id", type=uuid.UUID)
    reindex.add_argument("--url", default=None, help="base URL of the running API")
    args = parser.parse_args(argv)
    settings = load_settings()
    token = settings.operator_token
    secrets_file = settings.data_dir / "secrets.json"
    if not token and secrets_file.exists():
        token = json.loads(secrets_file.read_text()).get("operator_token", "")
    if not token:
        print("search: set HUIKE_OPERATOR_TOKEN", file=sys.stderr)
        return 2
    base = args.url or settings.public_url or f"http://{settings.host}:{settings.port}"
    response = httpx.post(f"{base.rstrip('/')}/api/v1/operator/search/reindex/{args.tenant_id}",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0 if response.status_code == 202 else 1


if __name__ == "__main__":
    sys.exit(main())
