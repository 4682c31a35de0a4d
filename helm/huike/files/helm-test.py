"""`helm test`: every enabled service is ready, and a tenant can sign up through identity.

Standard library only (runs in the Huike image). READY_URLS: space-separated /readyz
URLs; API_URL: identity's base URL. Exits non-zero with one line saying what failed.
"""

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request


def call(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main() -> int:
    for url in os.environ["READY_URLS"].split():
        status = 0
        for _ in range(30):  # a pod that just started may need a minute
            try:
                status, _ = call(url)
            except OSError as error:
                status = 0
                print(f"{url}: {error}", file=sys.stderr)
            if status not in (0, 502, 503, 504):  # only "not up yet" is worth waiting for
                break
            time.sleep(2)
        if status != 200:
            print(f"FAIL {url} answered {status}, not 200", file=sys.stderr)
            return 1
        print(f"ok   {url}")
    suffix = secrets.token_hex(5)
    status, body = call(os.environ["API_URL"].rstrip("/") + "/api/v1/signup", {
        "company_name": f"helm-test-{suffix}", "admin_email": f"helm-test-{suffix}@example.com",
        "admin_password": secrets.token_urlsafe(18), "admin_name": "Helm Test"})
    if status != 201 or "access_token" not in json.loads(body or b"{}"):
        print(f"FAIL sign-up answered {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    print(f"ok   sign-up of helm-test-{suffix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
