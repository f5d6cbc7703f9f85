"""Small helpers shared by test modules."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from ledger.permissions import Actor


class Users:
    """Users as the services see them, inserted directly (no password needed): name -> (role, township)."""

    def __init__(self, engine, spec: dict[str, tuple[str, str | None]]):
        self.spec = spec
        self.ids: dict[str, int] = {}
        with engine.begin() as c:
            for name, (role, township) in spec.items():
                self.ids[name] = c.execute(text(
                    "INSERT INTO app_user (username, display_name, role, township, is_active, created_at) "
                    "VALUES (:u, '', :r, :t, :a, :at) RETURNING id"),
                    {"u": name, "r": role, "t": township, "a": True, "at": dt.datetime(2026, 1, 1)}).scalar_one()

    def __getitem__(self, name: str) -> Actor:
        role, township = self.spec[name]
        return Actor(self.ids[name], name, role, township)


def huimin_cmd() -> list[str]:
    """The real `huimin` command of this environment (its console script, else `python -m ledger.cli`)."""
    import shutil
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("huimin")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("huimin")
    return [found] if found else [sys.executable, "-m", "ledger.cli"]
