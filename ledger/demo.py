"""The demo: a small synthetic county journal built through the same use cases officers use."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from sqlalchemy import Engine, select

from ledger import services, users
from ledger.db import read_only
from ledger.journal import LedgerRefusal
from ledger.permissions import SYSTEM
from ledger.settings import get_settings
from ledger.synthetic import FUNDS, write_journal

# One demo user per role. The passwords are public on purpose (they are printed); the demo
# refuses to run in production.
DEMO_USERS = (
    ("finance", "finance_officer", "财务 王芳"),
    ("approver", "approver", "审核 李明"),
    ("loans", "loan_officer", "信贷 阿依古丽"),
    ("inspector", "inspector", "纪检 张强"),
    ("admin", "admin", "管理员 赵磊"),
)


def demo_password(username: str) -> str:
    return f"demo-{username}-2026"


def ensure_demo_users(engine: Engine) -> list[tuple[str, str, str]]:
    """Create the demo users that are missing; returns (username, role, password) for all."""
    if get_settings().environment == "production":
        raise RuntimeError("the demo users are not created in production")
    with read_only(engine) as s:
        existing = set(s.execute(select(users.USER.c.username)).scalars())
    out = []
    for name, role, display in DEMO_USERS:
        if name not in existing:
            users.create_user(engine, SYSTEM, name, role, demo_password(name), display_name=display)
        out.append((name, role, demo_password(name)))
    return out


def build_demo(engine: Engine, seed: int = 7, entries: int = 2_000) -> str:
    """Idempotent: running it twice posts nothing new (every entry has a fixed key)."""
    for code, name, kind in FUNDS:
        try:
            services.register_fund(engine, SYSTEM, code, name, kind, document_no=f"新财农〔2025〕{len(code)}号")
        except LedgerRefusal:
            pass  # already registered by an earlier run
    with tempfile.TemporaryDirectory() as tmp:
        path = write_journal(Path(tmp) / "demo.jsonl", entries, seed=seed, projects=20)
        report = services.import_journal(engine, SYSTEM, path, open_missing=True)
    if not report.ok:
        raise LedgerRefusal(report.problems)
    day = dt.date(2025, 12, 20)
    services.reallocate(engine, SYSTEM, "demo-realloc-1", "P0001", "P0002", "REGION", 5_000_000, day,
                        "项目调整 P0001 → P0002")
    services.redesignate(engine, SYSTEM, "demo-redesig-1", "Assets:Project:P0002", "REGION", "COUNTY", 1_000_000,
                         day, "资金来源调整")
    wrong = services.receive_fund(engine, SYSTEM, "demo-wrong-receipt", "COUNTY", 12_345, day, "录入错误")
    services.reverse_entry(engine, SYSTEM, wrong.seq, "demo-wrong-receipt-reversal", day, "冲销录入错误")
    return (f"demo journal: {report.lines:,} lines read, {report.posted:,} entries posted "
            f"({report.already_posted:,} were already there)")
