"""Who may do what in the console, checked before any handler runs.

Every route's endpoint is made by ``guarded`` (the roles that may use it) or ``public``;
``Access`` is kept on the endpoint so a test can walk every route and find its rule.
A request is answered, in this order:

- bearer token in ``Authorization`` from an address that sent too many unknown ones lately
  → 429 with ``Retry-After`` (``throttle``); unknown or malformed → 401 (whatever the path);
- no session, or one whose account was since removed from the file or given another role
  or password → 401 for ``/api/`` routes, a redirect to the sign-in page otherwise;
- signed in, role not allowed → 403;
- a POST on a session without the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) → 403. Token requests carry no cookie, so no CSRF token either.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sync_platform.console.accounts import ROLES, Accounts, Principal, Role
from sync_platform.console.throttle import Lockouts, client_address

MAX_FORM_BYTES = 64 * 1024
SESSION_COOKIE = "sync_console_session"
CSRF_FIELD = "csrf_token"

Handler = Callable[[Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Access:
    """``roles`` empty means public (the sign-in page); ``api`` routes answer JSON."""

    roles: frozenset[Role]
    api: bool = False

    @property
    def public(self) -> bool:
        return not self.roles


EVERYONE: frozenset[Role] = frozenset(ROLES)
SEES_PAYLOADS: frozenset[Role] = frozenset({"engineer", "admin"})
ACTS: frozenset[Role] = frozenset({"admin"})


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def form_data(request: Request) -> dict[str, str]:
    """An url-encoded form body (what the console's forms send), first value per field."""
    cached = request.scope.get("console.form")
    if isinstance(cached, dict):
        return cached
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            break
    fields = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True)
    form = {k: v[0] for k, v in fields.items()}
    request.scope["console.form"] = form
    return form


def principal_of(request: Request, accounts: Accounts) -> Principal | Response | None:
    """The caller, None when anonymous, or the 401 a bad bearer token gets."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        found = accounts.bearer(token.strip()) if scheme.lower() == "bearer" else None
        return found or unauthorized("unknown or malformed bearer token")
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    fingerprint = request.session.get("fingerprint")
    found = accounts.signed_in(name, fingerprint) if isinstance(fingerprint, str) else None
    if found is None:
        request.session.clear()
    return found


def start_session(request: Request, name: str, fingerprint: str) -> None:
    """A new session for ``name`` (never the one it signed in from: no fixation), holding
    the account's fingerprint so that changing the account ends it."""
    request.session.clear()
    request.session["user"] = name
    request.session["fingerprint"] = fingerprint
    csrf_token(request)


def unauthorized(message: str) -> Response:
    return JSONResponse(
        {"error": {"message": message}}, 401, headers={"WWW-Authenticate": 'Bearer realm="console"'}
    )


def too_many(message: str, retry_after: int) -> Response:
    return JSONResponse(
        {"error": {"message": f"{message}; try again in {minutes(retry_after)}"}},
        429,
        headers={"Retry-After": str(retry_after)},
    )


def minutes(seconds: int) -> str:
    whole = -(-seconds // 60)
    return f"{whole} minute{'s' if whole != 1 else ''}"


def forbidden(request: Request, message: str, api: bool) -> Response:
    if api or "authorization" in request.headers:
        return JSONResponse({"error": {"message": message}}, 403)
    return PlainTextResponse(f"403 Forbidden: {message}", 403)


def sign_in_redirect(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = here if request.method == "GET" else root + "/"
    return RedirectResponse(f"{root}/sign-in?{urlencode({'next': target})}", 303)


def guarded(
    handler: Handler,
    roles: frozenset[Role],
    accounts: Callable[[], Accounts],
    lockouts: Lockouts,
    *,
    api: bool = False,
) -> Endpoint:
    access = Access(roles, api)

    async def endpoint(request: Request) -> Response:
        if "authorization" in request.headers:
            wait = lockouts.tokens.wait(client_address(request))
            if wait is not None:
                return too_many("too many unknown bearer tokens from this address", wait)
        found = principal_of(request, accounts())
        if isinstance(found, Response):
            lockouts.token_failed(client_address(request))
            return found
        if found is None:
            if api:
                return unauthorized("sign in or send Authorization: Bearer <token>")
            return sign_in_redirect(request)
        if found.role not in access.roles:
            allowed = ", ".join(sorted(access.roles))
            return forbidden(request, f"role {found.role} may not do this ({allowed} may)", api)
        if request.method == "POST" and found.via == "session":
            refusal = await check_csrf(request)
            if refusal is not None:
                return refusal
        return await handler(request, found)

    endpoint.access = access  # type: ignore[attr-defined]
    endpoint.__name__ = handler.__name__
    return endpoint


def public(handler: Endpoint) -> Endpoint:
    """For the sign-in page: no account needed (its POST still needs the CSRF token)."""
    handler.access = Access(frozenset())  # type: ignore[attr-defined]
    return handler


async def check_csrf(request: Request) -> Response | None:
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token") or (await form_data(request)).get(CSRF_FIELD)
    # As bytes: compare_digest refuses str holding non-ASCII, which a forged form may send.
    if (
        not isinstance(expected, str)
        or not sent
        or not hmac.compare_digest(_bytes(expected), _bytes(sent))
    ):
        return PlainTextResponse("403 Forbidden: missing or wrong CSRF token; reload the page", 403)
    return None


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class SchemeAwareSessions:
    """Session cookies marked ``Secure`` on requests that came over https (uvicorn sets the
    scheme from ``X-Forwarded-Proto`` behind a trusted proxy), plain on http (development)."""

    def __init__(self, app: ASGIApp, secret: str, max_age: int, path: str) -> None:
        def sessions(https_only: bool) -> SessionMiddleware:
            return SessionMiddleware(
                app,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=max_age,
                path=path,
                same_site="lax",
                https_only=https_only,
            )

        self._plain = sessions(False)
        self._secure = sessions(True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self._secure if https else self._plain)(scope, receive, send)
