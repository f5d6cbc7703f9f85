"""What the benchmarks share: run a subprocess and measure it (wall and CPU seconds, its own peak RSS),
the environment pointing `huimin` at one SQLite file, and row counts of that file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system
    max_rss_mib: float
    stdout: str
    stderr: str
    returncode: int


def run(cmd: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> Run:
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    r = Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            out_path.read_text("utf-8", "replace"), err_path.read_text("utf-8", "replace"), proc.returncode)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def huimin_env(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HUIMIN_DATABASE_URL"] = f"sqlite:///{db}"
    return env


def counts(db: Path, tables: tuple[str, ...]) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        # Table names come from the fixed tuples of the benchmarks, never from input.
        return {t: con.execute("SELECT COUNT(*) FROM " + t).fetchone()[0] for t in tables}  # noqa: S608
    finally:
        con.close()
