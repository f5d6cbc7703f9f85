import datetime as dt

from ledger import services
from ledger.permissions import SYSTEM


def test_receive_allocate_verify(engine):
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")
    services.receive_fund(engine, SYSTEM, "r1", "CENTRAL", 100_000, dt.date(2026, 1, 5))
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 60_000, dt.date(2026, 1, 6))
    rows = {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM)}
    assert rows[("Assets:Project:P1", "CENTRAL")] == 60_000
    assert rows[("Assets:Treasury:Pool", "CENTRAL")] == 40_000
    assert services.verify_journal(engine, SYSTEM).ok
