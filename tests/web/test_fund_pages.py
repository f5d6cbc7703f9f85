"""Fund sources (/funds, GET /api/v1/funds): what each source sent, with its document number and its
receipts, what has been allocated and what the pool holds; exported whole to Excel, audited."""

from __future__ import annotations

import io

import openpyxl
import pytest

from ledger import reports, services
from ledger.permissions import SYSTEM


def test_totals_hold_the_identity():
    class F:
        def __init__(self, r, a, p):
            self.received_fen, self.allocated_fen, self.in_pool_fen = r, a, p
    t = reports.fund_source_totals([F(100, 60, 40), F(5, 5, 0)])
    assert (t.received_fen, t.allocated_fen, t.in_pool_fen) == (105, 65, 40)
    with pytest.raises(AssertionError):
        reports.fund_source_totals([F(100, 60, 41)])


def test_funds_page_api_and_export(world):
    # The seed: CENTRAL received 1,000,000.00 (its document number 财农〔2026〕1号), 400,000.00 allocated;
    # TJ-AID received 300,000.00, 100,000.00 allocated. A wrong receipt reversed nets out.
    wrong = services.receive_fund(world.engine, SYSTEM, "wrong", "CENTRAL", 5_00, world_day(), "录错")
    services.reverse_entry(world.engine, SYSTEM, wrong.seq, "wrong-rev", world_day())
    page = world.signed_in("approver").get("/funds")
    assert page.status_code == 200
    text = page.text
    assert "财农〔2026〕1号" in text and "¥1,000,000.00" in text and "¥600,000.00" in text
    assert 'id="funds-received">¥1,300,000.00<' in text
    body = world.api("inspector").get("/api/v1/funds").json()
    central = next(f for f in body if f["code"] == "CENTRAL")
    assert (central["received"], central["allocated"], central["in_pool"]) == ("1000000.00", "400000.00",
                                                                               "600000.00")
    assert [r["amount"] for r in central["receipts"]] == ["1000000.00", "5.00", "-5.00"]
    r = world.signed_in("finance_officer").get("/funds/export?format=xlsx")
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][0].startswith("fund") and {row[0] for row in rows[1:]} == {"CENTRAL", "TJ-AID"}
    assert world.signed_in("admin").get("/funds").status_code == 403


def world_day():
    import datetime as dt

    return dt.date(2026, 3, 1)
