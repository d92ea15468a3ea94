"""The README's "The weekly refresh (Prefect)" block, run as written: extracted from README.md and
executed step by step by bash (``-e``: the first failing step stops it; ``-x``: each step is traced)
in a copy of the checkout, with a fresh PREFECT_HOME, no PREFECT_API_URL and a free port. It must
start its own server and worker, complete a run of the sample, publish a snapshot that
``load_dataset`` reads, print no error on the way, and leave no process behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SECTION = "## The weekly refresh (Prefect)"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "out", "tests", "__pycache__", ".prefect-results", "*.egg-info"
)


def readme_block() -> list[str]:
    """The commands of the section's fenced bash block, one per line, comments kept."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert match, f"README.md: no ```bash block under {SECTION!r}"
    return [line for line in match.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(pgid: int) -> None:
    """SIGTERM the block's process group (server, worker and their children), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        if not _group_alive(pgid):
            return
        os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.5)


def test_the_readme_block_has_the_steps_a_fresh_machine_needs() -> None:
    steps = readme_block()
    joined = "\n".join(steps)
    # a server started in the background, the API URL set before anything talks to it
    assert re.search(r"prefect server start .*&\s*$", joined, re.M)
    assert joined.index("PREFECT_API_URL") < joined.index("python -m flows.setup")
    assert re.search(r"prefect worker start --pool dafset-process .*&\s*$", joined, re.M)
    assert "PREFECT_SERVER_ANALYTICS_ENABLED=false" in joined
    assert re.search(r"prefect deployment run 'build-dafset/weekly' .*--watch --watch-timeout \d+", joined)


def test_the_readme_weekly_block_completes_a_run_on_a_fresh_prefect_home(tmp_path: Path) -> None:
    steps = readme_block()
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO, checkout, ignore=COPY_IGNORE, symlinks=True)
    script = tmp_path / "weekly.sh"
    script.write_text("\n".join(steps) + "\n", encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    port = _free_port()
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),  # fresh: no profile, no database
        DAFSET_PREFECT_PORT=str(port),
        PYTHONPATH=str(checkout),  # the copy's dafset/flows, as the user's editable install would
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    shell = subprocess.Popen(
        ["bash", "-e", "-x", str(script)],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # server and worker join this group: the test ends them all
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        try:
            output, _ = shell.communicate(timeout=1500)
        except subprocess.TimeoutExpired:
            _stop_group(shell.pid)
            output, _ = shell.communicate()
        logs = "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted((checkout / "out" / "logs").glob("*.log"))
        )
        traced = [line[2:] for line in output.splitlines() if line.startswith("+ ")]
        assert shell.returncode == 0, f"stopped at: {traced[-1:]}\n{output}\n{logs}"
        assert len(traced) >= len([s for s in steps if not s.lstrip().startswith("#")])
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).json()
    finally:
        _stop_group(shell.pid)
    assert not _group_alive(shell.pid), "the block's server or worker outlived the test"

    # the preflight warned before the worker started, and saw it afterwards
    assert "warning: no worker serves work pool 'dafset-process'" in output
    assert re.search(r"work pool 'dafset-process' is served by 1 worker", output)
    assert "Flow run finished successfully in 'Completed'" in output
    for noise in ("TELEMETRY_SESSION", "Failed to send telemetry", "Traceback", "| ERROR"):
        assert noise not in output, noise
    # the triggered run (the schedule's future Monday runs are only Scheduled; the stages subflow
    # has no deployment)
    (run,) = [r for r in flow_runs if r["deployment_id"] and r["state_type"] != "SCHEDULED"]
    assert run["state_type"] == "COMPLETED" and run["parameters"]["source"] == "sample"

    latest = checkout / "out" / "dafset" / "latest"
    loaded = datasets.load_dataset(str(latest))
    assert sum(len(split) for split in loaded.values()) > 0
    assert set(loaded["train"]["property"]) == {"recent", "popular", "long_tail", "robust"}
