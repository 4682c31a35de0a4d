"""The console's own unit tests (vitest: session refresh, CSRF header, problem+json field errors,
drafts, search grouping, list query, locale), run by ``make test`` with the build's Node.js."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shared.http.console_build import WEB, node_environment


def test_vitest_suite_passes(console_dir: Path) -> None:
    npm, env = node_environment()
    done = subprocess.run([*npm, "run", "test", "--", "--reporter=dot"], cwd=WEB, env={**env, "CI": "true"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout[-2000:]
