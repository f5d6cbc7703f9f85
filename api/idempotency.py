"""The `Idempotency-Key` header for every JSON POST, written once.

A route declares `idem: IdempotencyDep` and returns `idem.run(use_case)`, where `use_case()`
does the work and returns `(status_code, out_model)`. Without the header the use case simply
runs. With it:

- the first request reserves the key (ledger.idempotency), runs, and its response — success or
  a refusal (4xx) — is kept and returned;
- a repeat with the same method, path and body gets the kept status code and JSON body back,
  with the header `Idempotent-Replayed: true`, and nothing runs again;
- the same key with a different request is a 409, as is a repeat while the first is still running;
- a server error (5xx, an unexpected exception) is never kept: the reservation is dropped, so a
  retry runs afresh.

Keys are per user: two users may use the same key independently. The fingerprint is computed
from the raw body FastAPI already read, so a route needs no extra parsing. Fields named in
`redact` (a bearer token shown once) are replaced by null in the kept copy, so no secret is ever
stored in the idempotency table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine

from api.deps import ApiActor, EngineDep
from ledger import idempotency
from ledger.journal import LedgerRefusal
from ledger.permissions import Actor, PermissionDenied

REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"


def error_response(exc: Exception) -> JSONResponse | None:
    """The JSON the app's exception handlers would give for a refusal, or None for anything else."""
    if isinstance(exc, LedgerRefusal):
        return JSONResponse({"ok": False, "errors": [p.as_dict() for p in exc.problems]}, status_code=422)
    if isinstance(exc, PermissionDenied):
        return JSONResponse({"detail": "forbidden", "permission": exc.permission}, status_code=403)
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return None


UseCase = Callable[[], tuple[int, BaseModel | dict[str, Any]]]


@dataclass
class Idempotency:
    engine: Engine
    actor: Actor
    key: str | None
    method: str
    path: str
    request_hash: str

    def run(self, use_case: UseCase, *, redact: Iterable[str] = ()) -> Response:
        if self.key is None:
            status, out = use_case()
            return JSONResponse(jsonable_encoder(out), status_code=status)

        outcome = idempotency.begin(self.engine, self.actor.user_id, self.key, self.method, self.path,
                                    self.request_hash)
        if isinstance(outcome, idempotency.Replay):
            return Response(outcome.body, status_code=outcome.status_code, media_type="application/json",
                            headers={REPLAYED_HEADER: "true"})
        if isinstance(outcome, idempotency.Conflict | idempotency.InProgress):
            raise HTTPException(status_code=409, detail=outcome.message)
        reserved = outcome

        try:
            status, out = use_case()
            body = jsonable_encoder(out)
            response: Response = JSONResponse(body, status_code=status)
        except Exception as exc:
            refused = error_response(exc)
            if refused is None:
                idempotency.abandon(self.engine, reserved)
                raise
            response, status = refused, refused.status_code
            body = json.loads(bytes(refused.body))
        if status >= 500:
            idempotency.abandon(self.engine, reserved)
            return response
        kept = dict(body) if isinstance(body, dict) else body
        if isinstance(kept, dict):
            for name in redact:
                if name in kept:
                    kept[name] = None
        try:
            idempotency.complete(self.engine, reserved, status,
                                 json.dumps(kept, ensure_ascii=False, separators=(",", ":")))
        except Exception:
            # The use case is done and committed; failing to keep its answer must not hide it.
            idempotency.abandon(self.engine, reserved)
        return response


async def _raw_body(request: Request) -> bytes:
    # FastAPI has already read the body to validate it; Starlette keeps it, so this is free.
    return await request.body()


def idempotency_dependency(
    request: Request,
    actor: ApiActor,
    engine: EngineDep,
    body: Annotated[bytes, Depends(_raw_body)],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", pattern=KEY_PATTERN, max_length=idempotency.MAX_KEY_LEN,
               description="Optional. A repeat with the same key and the same request returns the first "
                           "response; the same key with a different request is refused with 409."),
    ] = None,
) -> Idempotency:
    method = request.method
    path = request.url.path
    request_hash = idempotency.fingerprint(method, path, body) if idempotency_key is not None else ""
    return Idempotency(engine, actor, idempotency_key, method, path, request_hash)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency)]
