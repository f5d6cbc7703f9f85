"""The ASGI application: JSON API under /api/v1, HTML pages, static files, security headers.

`create_app()` is the factory (`huimin serve` and the tests call it). Routes call services;
PermissionDenied becomes 403, LedgerRefusal 422 with the §9 error shape, NotSignedIn a redirect.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.db import get_engine
from ledger.journal import LedgerRefusal
from ledger.permissions import PermissionDenied
from ledger.settings import get_settings
from web import i18n
from web.deps import NotSignedIn

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityAndLocale:
    """Pure ASGI middleware: sets the request's locale and adds security headers to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookie = None
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == i18n.LANG_COOKIE:
                cookie = value
        token = i18n.current_locale.set(i18n.pick_locale(cookie, headers.get("accept-language")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in existing]
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            i18n.current_locale.reset(token)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(database_url: str | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Huimin Ledger 惠民账本 API",
        version="1",
        description="JSON API of Huimin Ledger. Authenticate with `Authorization: Bearer <token>`; amounts are "
                    "decimal strings in yuan.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.engine = get_engine(database_url or settings.database_url)
    app.state.settings = settings

    from api.routes import router as api_router
    from web.routes import router as web_router

    app.include_router(api_router, prefix="/api/v1")
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityAndLocale)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        target = "/login?next=" + quote(request.url.path + (("?" + request.url.query) if request.url.query else ""))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PermissionDenied)
    async def _denied(request: Request, exc: PermissionDenied) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "forbidden", "permission": exc.permission}, status_code=403)
        from web.routes import error_page

        return error_page(request, 403)

    @app.exception_handler(LedgerRefusal)
    async def _refused(request: Request, exc: LedgerRefusal) -> Response:
        body = {"ok": False, "errors": [p.as_dict() for p in exc.problems]}
        if _wants_json(request):
            return JSONResponse(body, status_code=422)
        from web.routes import error_page

        return error_page(request, 422, problems=exc.problems)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request) or request.headers.get("hx-request"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        from web.routes import error_page

        return error_page(request, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"row": None, "column": ".".join(str(x) for x in e.get("loc", ())),
                   "value": str(e.get("input"))[:200], "message": e.get("msg", "")} for e in exc.errors()]
        if _wants_json(request):
            return JSONResponse({"ok": False, "errors": errors}, status_code=422)
        from web.routes import error_page

        return error_page(request, 422)

    return app
