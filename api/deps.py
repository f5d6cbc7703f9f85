"""FastAPI dependencies shared by the JSON API and the pages: the engine and who is calling.

`EngineDep` is the database; `ApiActor` is the caller of a JSON route (a bearer token, never a
cookie, so the API needs no CSRF token); pages use `web.deps`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from ledger import users
from ledger.permissions import Actor


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def api_actor(request: Request, engine: EngineDep) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    actor = users.resolve_api_token(engine, token.strip()) if scheme.lower() == "bearer" else None
    if actor is None:
        raise HTTPException(status_code=401, detail="a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]
