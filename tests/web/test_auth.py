"""Sign-in, sessions, the throttle, tokens and CSRF on the shell's own forms."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger.models import AuditLog, UserSession
from tests.web.conftest import PASSWORD, ROLES


def _audit_actions(world) -> list[str]:
    with world.engine.connect() as c:
        return [r[0] for r in c.execute(select(AuditLog.__table__.c.action).order_by(AuditLog.__table__.c.id))]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_and_sees_its_home(world, role):
    c = world.signed_in(role)
    r = c.get("/")
    assert r.status_code == 200
    assert 'id="home-title"' in r.text
    assert role.replace("_", "-") in r.text
    assert "auth.login" in _audit_actions(world)


def test_wrong_password_is_refused_and_audited(world):
    c = world.client()
    c.get("/login")
    r = c.post("/login", data={"username": "inspector", "password": "nope-nope-nope",
                               "csrf_token": c.cookies.get("huimin_prelogin")})
    assert r.status_code == 401
    assert "huimin_session" not in c.cookies
    assert "auth.login_failed" in _audit_actions(world)


def test_login_throttle_refuses_even_the_right_password(world):
    c = world.client()
    for _ in range(5):
        c.get("/login")
        c.post("/login", data={"username": "approver", "password": "wrong-password!",
                               "csrf_token": c.cookies.get("huimin_prelogin")})
    c.get("/login")
    r = c.post("/login", data={"username": "approver", "password": PASSWORD,
                               "csrf_token": c.cookies.get("huimin_prelogin")})
    assert r.status_code == 429
    assert "huimin_session" not in c.cookies


def test_login_form_without_csrf_token_is_refused(world):
    c = world.client()
    r = c.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403


def test_logout_needs_csrf_and_revokes_the_session(world):
    c = world.signed_in("inspector")
    assert c.post("/logout").status_code == 403
    assert c.get("/").status_code == 200
    html = c.get("/").text
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 200 and "/login" in str(r.url)
    with world.engine.connect() as conn:
        revoked = conn.execute(select(UserSession.__table__.c.revoked_at)).scalars().all()
    assert revoked and all(v is not None for v in revoked)
    assert "/login" in str(c.get("/").url)
    assert "auth.logout" in _audit_actions(world)


def test_cookies_are_httponly_and_samesite(world):
    c = world.client()
    c.get("/login")
    r = c.post("/login", data={"username": "admin", "password": PASSWORD,
                               "csrf_token": c.cookies.get("huimin_prelogin")}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "huimin_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_security_headers(world):
    r = world.client().get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_bearer_token_and_revocation(world):
    from ledger import users

    api = world.api("loan_officer")
    assert api.get("/api/v1/me").json()["role"] == "loan_officer"
    assert world.client().get("/api/v1/me").status_code == 401
    bad = world.client()
    bad.headers["Authorization"] = "Bearer hm_not-a-token"
    assert bad.get("/api/v1/me").status_code == 401
    from ledger.models import ApiToken
    with world.engine.connect() as conn:
        tid = conn.execute(select(ApiToken.__table__.c.id).where(
            ApiToken.__table__.c.user_id == world.user_ids["loan_officer"])).scalar_one()
    users.revoke_api_token(world.engine, users.Actor(world.user_ids["loan_officer"], "loan-officer", "loan_officer"),
                           tid)
    assert api.get("/api/v1/me").status_code == 401


def test_language_switch(world):
    c = world.signed_in("finance_officer")
    assert "退出" in c.get("/").text or "Sign out" not in c.get("/").text
    c.get("/lang/en?next=/")
    assert "Sign out" in c.get("/").text
