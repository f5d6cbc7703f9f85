"""Browser fixtures: a live `huimin serve` on a fresh demo database, and the system Chromium.

The server is a real subprocess (the same command an officer runs), on a free port, over a
SQLite file in a temporary folder: `huimin demo` builds the town demo county, then one user per
role is added with `huimin users add`. Playwright (pytest-playwright's `page` fixture) drives
Debian's Chromium at /usr/bin/chromium; no browser is ever downloaded. Without that binary the
browser tests are skipped (CI installs it).

Screenshots of every step go to <repo>/test-output/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed (pip install -e '.[test]')")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROLES = ("finance_officer", "approver", "loan_officer", "inspector", "admin")
PASSWORD = "correct-horse-battery"  # a fixed test value, used nowhere else
SERVER_START_TIMEOUT_S = 30


def username(role: str) -> str:
    return "e2e-" + role.replace("_", "-")  # not a demo user name (`huimin demo` makes those)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"huimin {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"huimin serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"huimin serve did not answer {url} within {SERVER_START_TIMEOUT_S} s:\n"
                       f"{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need the system Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[str]:
    """Base URL of `huimin serve` on a fresh demo database with one user per role."""
    home = tmp_path_factory.mktemp("live-server")
    env = {**os.environ, "HUIMIN_DATABASE_URL": f"sqlite:///{home / 'huimin.db'}",
           "HUIMIN_ENVIRONMENT": "test", "PYTHONUNBUFFERED": "1"}
    env.pop("HUIMIN_SECURE_COOKIES", None)  # the browser talks plain http to 127.0.0.1
    _cli("demo", env=env, cwd=home)
    for role in ROLES:
        _cli("users", "add", username(role), "--role", role, "--display-name", username(role),
             "--password-stdin", env=env, cwd=home, stdin=PASSWORD + "\n")

    port = _free_port()
    log = home / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ledger.cli", "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/login", proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# pytest-playwright: the requested fixture of the same name is the plugin's default, so its
# command-line options (--headed, --slowmo, --video ...) keep working on top of ours.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, chromium_path: str) -> dict:
    return {**browser_type_launch_args, "executable_path": chromium_path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    """pytest-playwright opens every page relative to this: page.goto("/journal")."""
    return live_server


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # zh-CN: the application's first language; the journey switches to English and back.
    return {**browser_context_args, "locale": "zh-CN", "accept_downloads": True,
            "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig: pytest.Config) -> Path:
    folder = pytestconfig.rootpath / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def download_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")

