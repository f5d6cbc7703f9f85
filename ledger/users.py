"""Users, sign-in sessions, API tokens and the login throttle.

Passwords are hashed with Argon2 (pwdlib). Session and API tokens are random 256-bit strings
given to the client once; only their HMAC under HUIMIN_SECRET_KEY is stored, so a copy of the database does not let
anyone sign in. Every sign-in, failure, sign-out, user change and token issue is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pwdlib import PasswordHash
from sqlalchemy import Engine, func, select, update

from ledger import audit
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.models import ApiToken, AppUser, LoginAttempt, Township, UserSession, utcnow
from ledger.permissions import ROLES, Actor, require
from ledger.settings import get_settings

USER = AppUser.__table__
SESSION = UserSession.__table__
TOKEN = ApiToken.__table__
TOWNSHIP = Township.__table__
ATTEMPT = LoginAttempt.__table__

MIN_PASSWORD_LEN = 10
MAX_PASSWORD_LEN = 256
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
# Refresh last_seen at most this often, so browsing does not write on every request.
LAST_SEEN_GRANULARITY = dt.timedelta(seconds=60)

_hasher = PasswordHash.recommended()


class AuthFailed(Exception):
    """Wrong name or password. The message never says which."""


class Throttled(Exception):
    def __init__(self, minutes: int):
        self.minutes = minutes
        super().__init__(f"too many failed sign-ins; try again in {minutes} minutes")


def token_hash(token: str) -> str:
    """HMAC-SHA256 of a session or API token under HUIMIN_SECRET_KEY.

    Keyed, so a copy of the database without the server's secret cannot even test guesses.
    Changing the secret signs everybody out and voids every API token.
    """
    return hmac.new(get_settings().secret_key.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LEN:
        return f"password must have at least {MIN_PASSWORD_LEN} characters"
    if len(password) > MAX_PASSWORD_LEN:
        return f"password must have at most {MAX_PASSWORD_LEN} characters"
    return None


def _refuse(field: str, value: str, message: str) -> LedgerRefusal:
    return LedgerRefusal([Problem("user", field, value, message)])


def _user_public(row) -> dict:
    return {"id": row.id, "username": row.username, "display_name": row.display_name, "role": row.role,
            "township": row.township, "is_active": row.is_active}


def actor_of(row, session=None) -> Actor:
    """The Actor of a user row. With a session, a township stored as a registered township's code is
    given by its name (see `_township_name`): the scope every service compares is one spelling."""
    township = row.township
    if township is not None and session is not None:
        township = _township_name(session, township)
    return Actor(user_id=int(row.id), username=row.username, role=row.role, township=township)


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: str
    township: str | None
    is_active: bool
    created_at: dt.datetime


def _township_name(s, township: str) -> str:
    """A township given by code or name is kept by its registered name: projects and payments compare a
    user's scope with township names, the registry with either (a name wins over another township's
    code, as in the registry). A township not registered yet is kept as typed: users may be created
    before the registry is imported."""
    rows = s.execute(select(TOWNSHIP.c.code, TOWNSHIP.c.name)
                     .where((TOWNSHIP.c.name == township) | (TOWNSHIP.c.code == township))).all()
    by_name = [name for _code, name in rows if name == township]
    return by_name[0] if by_name else (rows[0].name if rows else township)


def _scoped(s, uid: int, username: str, role: str, township: str | None) -> Actor:
    return Actor(user_id=int(uid), username=username, role=role,
                 township=None if township is None else _township_name(s, township))


def create_user(engine: Engine, actor: Actor, username: str, role: str, password: str,
                township: str | None = None, display_name: str = "") -> int:
    require(actor, "users.manage")
    if not USERNAME_RE.match(username):
        raise _refuse("username", username, "user name: 2–64 of a–z, 0–9, '.', '_' or '-', starting with a letter")
    if role not in ROLES or role == "system":
        raise _refuse("role", role, "role must be one of " + ", ".join(r for r in ROLES if r != "system"))
    msg = password_problem(password)
    if msg:
        raise _refuse("password", "***", msg)
    township = (township or "").strip() or None
    with unit_of_work(engine) as s:
        if s.execute(select(USER.c.id).where(USER.c.username == username)).first():
            raise _refuse("username", username, "user name already taken")
        if township is not None:
            township = _township_name(s, township)
        new_id = s.execute(USER.insert().values(
            username=username, display_name=display_name.strip(), role=role, township=township,
            password_hash=hash_password(password), is_active=True, created_at=utcnow(), password_changed_at=utcnow(),
        ).returning(USER.c.id)).scalar_one()
        audit.record(s, actor, "users.create", "user", str(new_id), after={
            "username": username, "role": role, "township": township, "display_name": display_name})
        return int(new_id)


def set_user_active(engine: Engine, actor: Actor, user_id: int, active: bool) -> None:
    require(actor, "users.manage")
    with unit_of_work(engine) as s:
        row = s.execute(select(USER).where(USER.c.id == user_id)).first()
        if row is None or row.role == "system":
            raise _refuse("user", str(user_id), "no such user")
        s.execute(update(USER).where(USER.c.id == user_id).values(is_active=active))
        if not active:
            s.execute(update(SESSION).where(SESSION.c.user_id == user_id, SESSION.c.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
            s.execute(update(TOKEN).where(TOKEN.c.user_id == user_id, TOKEN.c.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
        audit.record(s, actor, "users.activate" if active else "users.deactivate", "user", str(user_id),
                     before={"is_active": row.is_active}, after={"is_active": active})


def list_users(engine: Engine, actor: Actor) -> list[UserView]:
    require(actor, "users.manage")
    with read_only(engine) as s:
        rows = s.execute(select(USER).where(USER.c.role != "system").order_by(USER.c.username)).all()
    return [UserView(r.id, r.username, r.display_name, r.role, r.township, r.is_active, r.created_at) for r in rows]


def change_password(engine: Engine, actor: Actor, current: str, new: str, keep_session_hash: str | None = None) -> None:
    """The user changes their own password; every other session of theirs is signed out."""
    msg = password_problem(new)
    if msg:
        raise _refuse("new_password", "***", msg)
    with unit_of_work(engine) as s:
        row = s.execute(select(USER).where(USER.c.id == actor.user_id)).first()
        if row is None or not row.password_hash or not _hasher.verify(current, row.password_hash):
            raise _refuse("current_password", "***", "current password is wrong")
        now = utcnow()
        s.execute(update(USER).where(USER.c.id == actor.user_id).values(password_hash=hash_password(new),
                                                                         password_changed_at=now))
        revoke = update(SESSION).where(SESSION.c.user_id == actor.user_id, SESSION.c.revoked_at.is_(None))
        if keep_session_hash:
            revoke = revoke.where(SESSION.c.token_hash != keep_session_hash)
        s.execute(revoke.values(revoked_at=now))
        audit.record(s, actor, "users.password_change", "user", str(actor.user_id),
                     after={"password_changed_at": now.isoformat()})


# ---------------------------------------------------------------------------------------------
# Sign-in


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # give to the browser once; never stored
    csrf_token: str
    actor: Actor


def _throttle_check(s, username: str, ip: str | None, now: dt.datetime) -> None:
    cfg = get_settings()
    since = now - dt.timedelta(minutes=cfg.login_window_minutes)
    by_user = s.execute(select(func.count()).select_from(ATTEMPT).where(
        ATTEMPT.c.username == username, ATTEMPT.c.ok.is_(False), ATTEMPT.c.at >= since)).scalar_one()
    by_ip = 0
    if ip:
        by_ip = s.execute(select(func.count()).select_from(ATTEMPT).where(
            ATTEMPT.c.ip == ip, ATTEMPT.c.ok.is_(False), ATTEMPT.c.at >= since)).scalar_one()
    if by_user >= cfg.login_max_failures or by_ip >= cfg.login_ip_max_failures:
        raise Throttled(cfg.login_window_minutes)


def sign_in(engine: Engine, username: str, password: str, ip: str | None = None,
            user_agent: str | None = None) -> SignedIn:
    """Check the password, open a session. Failures are recorded (throttle) and audited."""
    cfg = get_settings()
    # Whatever was typed is recorded in login_attempt; control characters (a NUL breaks
    # PostgreSQL text) cannot be part of a user name anyway.
    username = "".join(ch for ch in username if ch.isprintable()).strip().lower()[:64]
    now = utcnow()
    throttled: Throttled | None = None
    with unit_of_work(engine) as s:
        try:
            _throttle_check(s, username, ip, now)
        except Throttled as exc:
            throttled = exc
        row = s.execute(select(USER).where(USER.c.username == username)).first()
        ok = (
            throttled is None and row is not None and row.is_active and row.role != "system"
            and row.password_hash is not None and _hasher.verify(password[:MAX_PASSWORD_LEN], row.password_hash)
        )
        s.execute(ATTEMPT.insert().values(username=username, at=now, ok=ok, ip=ip))
        who = actor_of(row, s) if row is not None else Actor(user_id=1, username="system", role="system")
        if not ok:
            audit.record(s, who, "auth.login_failed", "user", str(row.id) if row is not None else None,
                         after={"username": username, "ip": ip, "throttled": throttled is not None})
        else:
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            s.execute(SESSION.insert().values(
                token_hash=token_hash(token), user_id=row.id, csrf_token=csrf, created_at=now, last_seen_at=now,
                expires_at=now + dt.timedelta(hours=cfg.session_max_hours), ip=ip,
                user_agent=(user_agent or "")[:256]))
            audit.record(s, who, "auth.login", "user", str(row.id), after={"ip": ip})
    # The failed attempt above is committed before we raise, so the throttle counts it.
    if throttled is not None:
        raise throttled
    if not ok:
        raise AuthFailed("wrong user name or password")
    return SignedIn(token, csrf, who)


@dataclass(frozen=True, slots=True)
class SessionView:
    actor: Actor
    csrf_token: str
    token_hash: str
    display_name: str


def resolve_session(engine: Engine, token: str | None) -> SessionView | None:
    """The signed-in user for a session cookie, or None if unknown, revoked, idle or expired."""
    if not token or len(token) > 200:
        return None
    cfg = get_settings()
    h = token_hash(token)
    now = utcnow()
    with read_only(engine) as s:
        row = s.execute(
            select(SESSION.c.id, SESSION.c.csrf_token, SESSION.c.last_seen_at, SESSION.c.expires_at,
                   SESSION.c.revoked_at, USER.c.id.label("uid"), USER.c.username, USER.c.role, USER.c.township,
                   USER.c.is_active, USER.c.display_name)
            .select_from(SESSION.join(USER, USER.c.id == SESSION.c.user_id))
            .where(SESSION.c.token_hash == h)
        ).first()
        actor = None if row is None else _scoped(s, row.uid, row.username, row.role, row.township)
    if row is None or row.revoked_at is not None or not row.is_active:
        return None
    if now >= row.expires_at or now - row.last_seen_at > dt.timedelta(minutes=cfg.session_idle_minutes):
        return None
    if now - row.last_seen_at >= LAST_SEEN_GRANULARITY:
        with unit_of_work(engine) as s:
            s.execute(update(SESSION).where(SESSION.c.id == row.id).values(last_seen_at=now))
    return SessionView(actor, row.csrf_token, h, row.display_name)


def sign_out(engine: Engine, token: str | None) -> None:
    if not token:
        return
    h = token_hash(token)
    with unit_of_work(engine) as s:
        row = s.execute(select(SESSION.c.id, SESSION.c.user_id, USER.c.username, USER.c.role, USER.c.township)
                        .select_from(SESSION.join(USER, USER.c.id == SESSION.c.user_id))
                        .where(SESSION.c.token_hash == h, SESSION.c.revoked_at.is_(None))).first()
        if row is None:
            return
        s.execute(update(SESSION).where(SESSION.c.id == row.id).values(revoked_at=utcnow()))
        audit.record(s, Actor(int(row.user_id), row.username, row.role, row.township), "auth.logout", "user",
                     str(row.user_id))


# ---------------------------------------------------------------------------------------------
# API tokens


def issue_api_token(engine: Engine, actor: Actor, name: str) -> str:
    """A new bearer token for the actor's own use. Shown once; only its hash is kept."""
    name = name.strip()[:64] or "api"
    token = "hm_" + secrets.token_urlsafe(32)
    with unit_of_work(engine) as s:
        tid = s.execute(TOKEN.insert().values(user_id=actor.user_id, name=name, token_hash=token_hash(token),
                                              created_at=utcnow()).returning(TOKEN.c.id)).scalar_one()
        audit.record(s, actor, "tokens.issue", "api_token", str(tid), after={"name": name})
    return token


def revoke_api_token(engine: Engine, actor: Actor, token_id: int) -> None:
    with unit_of_work(engine) as s:
        row = s.execute(select(TOKEN).where(TOKEN.c.id == token_id)).first()
        if row is None or (row.user_id != actor.user_id and actor.role not in ("admin", "system")):
            raise _refuse("token", str(token_id), "no such token")
        s.execute(update(TOKEN).where(TOKEN.c.id == token_id).values(revoked_at=utcnow()))
        audit.record(s, actor, "tokens.revoke", "api_token", str(token_id))


def resolve_api_token(engine: Engine, token: str | None) -> Actor | None:
    if not token or len(token) > 200:
        return None
    with read_only(engine) as s:
        row = s.execute(
            select(TOKEN.c.id, TOKEN.c.revoked_at, TOKEN.c.last_used_at, USER.c.id.label("uid"), USER.c.username,
                   USER.c.role, USER.c.township, USER.c.is_active)
            .select_from(TOKEN.join(USER, USER.c.id == TOKEN.c.user_id))
            .where(TOKEN.c.token_hash == token_hash(token))
        ).first()
        actor = None if row is None else _scoped(s, row.uid, row.username, row.role, row.township)
    if row is None or row.revoked_at is not None or not row.is_active or row.role == "system":
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_SEEN_GRANULARITY:
        with unit_of_work(engine) as s:
            s.execute(update(TOKEN).where(TOKEN.c.id == row.id).values(last_used_at=now))
    return actor
