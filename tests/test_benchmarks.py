"""The benchmark scripts still run end to end, on tiny workloads (a benchmark that rots is found when
someone needs its numbers). Nothing here looks at a time: speed is read from the scripts' output by a
person, never asserted (DESIGN.md §11). What is asserted is that every side ran, stored the same rows,
and that the imported journal verifies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
HUIMIN = Path(sys.executable).parent / "huimin"

pytestmark = pytest.mark.skipif(not HUIMIN.exists(), reason="huimin is not installed next to this Python")


def _run(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}  # the scripts choose their files
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_journal_import_benchmark_runs_every_side_and_the_ablation():
    out = _run("journal_import.py", "--entries", "300", "--projects", "20", "--ablation")
    assert re.search(r"^verify: ok — 300 entries checked", out, re.M), out
    for step in ("huimin journal import --open", "floor: sqlite3 executemany", "schema floor:",
                 "peer: bean-check", "nothing (the schema floor)", "triggers + foreign keys + secondary indexes"):
        assert step in out, (step, out)
    # The markdown row the README quotes: this workload's own counts.
    assert re.search(r"^\| 300 \| \d{3} \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+× \|", out, re.M), out


def test_county_demo_benchmark_runs_the_roll_on_every_side():
    out = _run("county_demo.py", "--skip-demo", "--rows", "200")
    assert re.search(r"^verify: ok — \d+ entries checked", out, re.M), out
    for step in ("huimin import payments --history", "floor: sqlite3 executemany", "schema floor:",
                 "huimin import payments --dry-run"):
        assert step in out, (step, out)
