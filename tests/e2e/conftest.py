from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def thermocline(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run the installed ``thermocline`` CLI as a user would, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "thermocline.cli", *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(stdout: str) -> object:
    """The JSON document a command printed last (handlers' structured logs may precede it)."""
    start = stdout.rfind("\n{")
    return json.loads(stdout[start + 1 :] if start >= 0 else stdout)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """One small demo run shared by the end-to-end tests: (state dir, summary)."""
    base = tmp_path_factory.mktemp("demo")
    result = thermocline(
        "demo", "--orders", "120", "--state", str(base / "state"), "--out", str(base / "out")
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return base, json.loads((base / "out" / "demo-summary.json").read_text())
