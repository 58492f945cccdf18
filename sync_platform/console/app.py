"""The operations console: server-rendered pages over the integration store, mounted by the
gateway at ``/console``, plus a JSON API under ``/console/api/`` for token holders.

Roles (``config/console_users.yaml``): ``finance`` sees business reasons and amounts but no
payloads; ``engineer`` also sees payloads, correlation ids and attempts, secrets masked;
``admin`` sees what an engineer sees and may approve, reject and replay. Approvals go through
``Store.decide`` and replays through ``erp_gateway.replay_exceptions``, as on the command line,
so who did it and why is recorded where the audit trail looks.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from resources.erp import ErpResource
from sync_platform.config_files import ConfigError
from sync_platform.console import queries
from sync_platform.console.accounts import Accounts, Principal, WatchedAccounts
from sync_platform.console.masking import mask_secrets, mask_text
from sync_platform.console.security import (
    ACTS,
    EVERYONE,
    SEES_PAYLOADS,
    SchemeAwareSessions,
    check_csrf,
    csrf_token,
    form_data,
    guarded,
    minutes,
    public,
    start_session,
)
from sync_platform.console.settings import ConsoleSettings
from sync_platform.console.throttle import Lockouts, client_address
from sync_platform.settings import REGIONS
from sync_platform.store import ReviewError, ReviewNotFound, Store, TransactionException
from sync_platform.transactions.flow import ReplaySelection

TEMPLATES = Path(__file__).parent / "templates"
ERP_SETTINGS = ("SYNC_ERP_URL", "SYNC_ERP_ACCESS_TOKEN")
REVIEW_STATUSES = ("pending", "approved", "rejected", "applied", "superseded")

ErpFactory = Callable[[], ErpResource]
Clock = Callable[[], datetime]


class ErpNotConfigured(Exception):
    pass


def erp_from_env() -> ErpResource:
    """The ERP the replay posts to, from the variables ``sync-platform replay`` reads."""
    missing = [name for name in ERP_SETTINGS if not os.environ.get(name)]
    if missing:
        raise ErpNotConfigured(f"set {' and '.join(missing)} where the console runs to replay")
    return ErpResource(
        base_url=os.environ["SYNC_ERP_URL"], access_token=os.environ["SYNC_ERP_ACCESS_TOKEN"]
    )


def _now() -> datetime:
    return datetime.now(UTC)


def create_console(
    store: Store,
    settings: ConsoleSettings,
    *,
    accounts: Accounts | None = None,
    erp: ErpFactory = erp_from_env,
    clock: Clock = _now,
    mount_path: str = "/console",
) -> Starlette:
    """The console app over an open store; the gateway mounts it at ``mount_path``.
    ``clock`` also times the sign-in and token lockouts."""
    current: Callable[[], Accounts] = (
        (lambda: accounts) if accounts is not None else WatchedAccounts(settings.users_file)
    )
    lockouts = Lockouts(clock)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(amount_of=queries.amount_of, age=queries.age)
    env.filters["as_json"] = _as_json
    templates = Jinja2Templates(env=env)

    def page(
        request: Request, me: Principal | None, name: str, status: int = 200, **context: Any
    ) -> Response:
        flash = request.session.pop("flash", None)
        return templates.TemplateResponse(
            request,
            name,
            {
                "me": me,
                "root": request.scope.get("root_path", ""),
                "csrf": csrf_token(request),
                "flash": flash,
                "regions": REGIONS,
                "sees_payloads": me is not None and me.role in SEES_PAYLOADS,
                "acts": me is not None and me.role in ACTS,
                "dagster_ui": settings.dagster_ui_url,
                **context,
            },
            status_code=status,
        )

    def error(request: Request, me: Principal, status: int, message: str) -> Response:
        if me.via == "token" or request.url.path.startswith(_root(request) + "/api/"):
            return JSONResponse({"error": {"message": message}}, status)
        return page(request, me, "error.html", status, message=message)

    # -- signing in --------------------------------------------------------------------------
    def sign_in_page(
        request: Request, target: str, problem: str | None, status: int = 200
    ) -> Response:
        return page(
            request,
            None,
            "sign_in.html",
            status,
            next=target,
            problem=problem,
            no_accounts=current().empty,
            users_file=settings.users_file,
        )

    async def sign_in(request: Request) -> Response:
        target = _safe_next(request, request.query_params.get("next"))
        if request.method == "GET":
            return sign_in_page(request, target, None)
        refusal = await check_csrf(request)
        if refusal is not None:
            return refusal
        form = await form_data(request)
        target = _safe_next(request, form.get("next"))
        name, address = form.get("name", ""), client_address(request)
        wait = lockouts.sign_in_wait(name, address)
        if wait is not None:
            # The same words whether the name is an account or not.
            problem = (
                "too many failed sign-ins for this name or from this address: "
                f"try again in {minutes(wait)}"
            )
            answer = sign_in_page(request, target, problem, 429)
            answer.headers["Retry-After"] = str(wait)
            return answer
        attempt = lockouts.sign_in_try(name, address)
        known = current()
        found = await run_in_threadpool(known.sign_in, name, form.get("password", ""))
        fingerprint = known.fingerprint(found.name) if found else None
        if found is None or fingerprint is None:
            lockouts.sign_in_failed(attempt)
            return sign_in_page(request, target, "unknown name or wrong password", 401)
        lockouts.signed_in(attempt)
        start_session(request, found.name, fingerprint)
        return RedirectResponse(target, 303)

    async def sign_out(request: Request, me: Principal) -> Response:
        request.session.clear()
        return RedirectResponse(_root(request) + "/sign-in", 303)

    # -- pages -------------------------------------------------------------------------------
    async def figures_page(request: Request, me: Principal) -> Response:
        day = _day(request) or clock().date()
        figures = await run_in_threadpool(queries.figures, store, day, _region(request))
        return page(request, me, "figures.html", figures=figures)

    async def transactions_page(request: Request, me: Principal) -> Response:
        return page(request, me, "transactions.html", **await _transactions(request))

    async def _transactions(request: Request) -> dict[str, Any]:
        kind = _choice(request, "kind", queries.BUSINESS_OBJECTS)
        stage = _choice(request, "stage", (*queries.STAGES, *queries.CUSTOMER_STAGES))
        region, day = _region(request), _day(request)

        def read() -> dict[str, Any]:
            matrix = queries.stage_matrix(store, region, day)
            rows: list[Any] = []
            customers: list[queries.CustomerRow] = []
            if kind == "customer":
                customers = queries.customers(store, region, stage)[: queries.LIST_LIMIT]
            else:
                rows = store.transactions(
                    kind=kind,
                    region=region,
                    business_date=day,
                    stages=(stage,) if stage else None,
                    limit=queries.LIST_LIMIT,
                )
            return {
                "matrix": matrix,
                "rows": rows,
                "customers": customers,
                "filters": {"kind": kind, "stage": stage, "region": region, "day": day},
            }

        return await run_in_threadpool(read)

    async def transaction_page(request: Request, me: Principal) -> Response:
        detail = await _detail(request, me)
        if detail is None:
            return error(request, me, 404, "no such transaction")
        return page(request, me, "transaction.html", **detail)

    async def _detail(request: Request, me: Principal) -> dict[str, Any] | None:
        txn_id = str(request.path_params["txn_id"])

        def read() -> dict[str, Any] | None:
            txn = store.transaction(txn_id)
            if txn is None:
                return None
            detail: dict[str, Any] = {
                "txn": txn,
                "amount": queries.amount_of(txn),
                "customer": txn.payload.get("billing_customer_id"),
                "lineage": queries.lineage(txn),
                "exceptions": _masked_exceptions(store.exceptions(status=None, txn_ids=[txn_id])),
                "links": queries.dagster_links(settings.dagster_ui_url, txn),
                "now": clock(),
                "age": queries.age,
            }
            if me.role in SEES_PAYLOADS:
                detail["attempts"] = [
                    dataclasses.replace(
                        a, erp_response=mask_secrets(a.erp_response), message=_masked(a.message)
                    )
                    for a in store.attempts(txn_id)
                ]
                detail["payload"] = mask_secrets(txn.payload)
            return detail

        return await run_in_threadpool(read)

    async def payload_page(request: Request, me: Principal) -> Response:
        txn = await run_in_threadpool(store.transaction, str(request.path_params["txn_id"]))
        if txn is None:
            return error(request, me, 404, "no such transaction")
        return JSONResponse(mask_secrets(txn.payload))

    async def exceptions_page(request: Request, me: Principal) -> Response:
        return page(request, me, "exceptions.html", **await _exceptions(request))

    async def _exceptions(request: Request) -> dict[str, Any]:
        try:
            chosen = queries.ExceptionFilter.parse(request.query_params)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

        def read() -> dict[str, Any]:
            found = queries.open_exceptions(store, chosen)
            now = clock()
            shown = _masked_exceptions(found[: queries.LIST_LIMIT])
            listed = store.transactions(txn_ids=[e.txn_id for e in shown])
            return {
                "groups": queries.exception_groups(found, now),
                "exceptions": shown,
                "amounts": {t.txn_id: queries.amount_of(t) for t in listed},
                "total": len(found),
                "now": now,
                "age": queries.age,
                "filters": chosen,
                "selection": queries.selection_digest(found),
            }

        return await run_in_threadpool(read)

    async def approvals_page(request: Request, me: Principal) -> Response:
        status = _choice(request, "status", REVIEW_STATUSES) or "pending"
        reviews = await run_in_threadpool(store.reviews, status, _region(request))
        shown = [
            dataclasses.replace(r, payload=mask_secrets(r.payload))
            if me.role in SEES_PAYLOADS
            else dataclasses.replace(r, payload={})
            for r in reviews
        ]
        return page(request, me, "approvals.html", reviews=shown, review_status=status)

    # -- actions (admin) ---------------------------------------------------------------------
    async def decide(request: Request, me: Principal) -> Response:
        form = await form_data(request)
        decision = form.get("decision")
        reason = form.get("reason", "").strip()
        if decision not in ("approve", "reject"):
            return error(request, me, 400, "decision must be approve or reject")
        if not reason:
            return error(request, me, 400, f"a reason is required to {decision}")
        review_id = int(request.path_params["review_id"])
        try:
            review = await run_in_threadpool(
                store.decide, review_id, decision == "approve", me.name, reason
            )
        except ReviewNotFound:
            return error(request, me, 404, f"no review {review_id}")
        except ReviewError as exc:
            return error(request, me, 409, str(exc))
        message = f"review {review.id} {review.status} by {review.decided_by}: {review.reason}"
        if me.via == "token":
            return JSONResponse({"review": review.id, "status": review.status})
        request.session["flash"] = message
        return RedirectResponse(_root(request) + "/approvals", 303)

    async def replay(request: Request, me: Principal) -> Response:
        form = await form_data(request)
        note = form.get("note", "").strip()
        if not note:
            return error(request, me, 400, "say what was fixed (note) to replay")
        txn_id = form.get("txn_id") or None
        try:
            chosen = queries.ExceptionFilter.parse(form)
        except ValueError as exc:
            return error(request, me, 400, str(exc))
        only = (txn_id,) if txn_id else None
        found = await run_in_threadpool(queries.open_exceptions, store, chosen, only)
        shown = form.get("selection")
        if shown and not hmac.compare_digest(
            shown.encode("utf-8", "surrogatepass"), queries.selection_digest(found).encode()
        ):
            return error(
                request,
                me,
                409,
                "the open exceptions matching these filters changed since the page listed "
                f"them ({len(found)} match now): nothing was replayed; reload the page, check "
                "the list and replay again",
            )
        # The replay takes these transactions and no others: the selection cannot say kind
        # or source, and the set must be the one the page listed (and the digest checked).
        selection = ReplaySelection(
            reason=chosen.reason,
            region=chosen.region,
            since=chosen.opened_since,
            txn_ids=tuple(dict.fromkeys(e.txn_id for e in found)),
        )
        from sync_platform.transactions.erp_gateway import FATAL_ERRORS

        try:
            summary = await run_in_threadpool(_replay, selection, note, me.name)
        except ErpNotConfigured as exc:
            return error(request, me, 503, str(exc))
        except ConfigError as exc:
            return error(request, me, 409, f"replay stopped: a config file is unusable: {exc}")
        except FATAL_ERRORS as exc:
            return error(
                request,
                me,
                502,
                f"replay stopped: the ERP refused the platform ({exc}); what posted before "
                "is kept. Check the ERP credentials (SYNC_ERP_ACCESS_TOKEN) where the console "
                "runs, then replay again",
            )
        if me.via == "token":
            return JSONResponse(summary)
        outcomes = "; ".join(
            f"{group}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["mode_outcomes"].items()))
            for group, r in summary["groups"].items()
        )
        request.session["flash"] = (
            f"replayed {summary['selected']} by {me.name} ({note}): {outcomes or 'nothing matched'}"
        )
        back = f"/transactions/{txn_id}" if txn_id else f"/exceptions?{urlencode(chosen.as_form())}"
        return RedirectResponse(_root(request) + back, 303)

    def _replay(selection: ReplaySelection, note: str, by: str) -> dict[str, Any]:
        from sync_platform.transactions.erp_gateway import replay_exceptions

        return replay_exceptions(erp(), store, selection, note=note, by=by)

    # -- JSON API ----------------------------------------------------------------------------
    async def api_transactions(request: Request, me: Principal) -> Response:
        listing = await _transactions(request)
        return JSONResponse(
            _json(
                {
                    "stages": listing["matrix"],
                    "transactions": [_txn_summary(t, me) for t in listing["rows"]],
                    "customers": listing["customers"],
                }
            )
        )

    async def api_transaction(request: Request, me: Principal) -> Response:
        detail = await _detail(request, me)
        if detail is None:
            return error(request, me, 404, "no such transaction")
        body = _txn_summary(detail["txn"], me)
        body["lineage"] = detail["lineage"]
        body["exceptions"] = [_exception_json(e, me) for e in detail["exceptions"]]
        body["dagster"] = detail["links"]
        if me.role in SEES_PAYLOADS:
            body["attempts"] = detail["attempts"]
            body["payload"] = detail["payload"]
        return JSONResponse(_json(body))

    async def api_exceptions(request: Request, me: Principal) -> Response:
        found = await _exceptions(request)
        shown = [_exception_json(e, me) for e in found["exceptions"]]
        return JSONResponse(_json({"groups": found["groups"], "exceptions": shown}))

    async def api_figures(request: Request, me: Principal) -> Response:
        day = _day(request) or clock().date()
        figures = await run_in_threadpool(queries.figures, store, day, _region(request))
        return JSONResponse(_json(figures))

    def route(
        path: str, handler: Any, roles: Any, methods: tuple[str, ...] = ("GET",), api: bool = False
    ) -> Route:
        endpoint = guarded(handler, roles, current, lockouts, api=api)
        return Route(path, endpoint, methods=list(methods))

    routes = [
        Route("/sign-in", public(sign_in), methods=["GET", "POST"]),
        route("/sign-out", sign_out, EVERYONE, ("POST",)),
        route("/", figures_page, EVERYONE),
        route("/transactions", transactions_page, EVERYONE),
        route("/transactions/{txn_id}", transaction_page, EVERYONE),
        route("/transactions/{txn_id}/payload", payload_page, SEES_PAYLOADS),
        route("/exceptions", exceptions_page, EVERYONE),
        route("/approvals", approvals_page, EVERYONE),
        route("/approvals/{review_id:int}/decide", decide, ACTS, ("POST",)),
        route("/replay", replay, ACTS, ("POST",)),
        route("/api/transactions", api_transactions, EVERYONE, api=True),
        route("/api/transactions/{txn_id}", api_transaction, EVERYONE, api=True),
        route("/api/exceptions", api_exceptions, EVERYONE, api=True),
        route("/api/figures", api_figures, EVERYONE, api=True),
        route("/api/approvals/{review_id:int}/decide", decide, ACTS, ("POST",), api=True),
        route("/api/replay", replay, ACTS, ("POST",), api=True),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SchemeAwareSessions,
                secret=settings.secret,
                max_age=settings.session_seconds,
                path=mount_path or "/",
            )
        ],
    )


# -- helpers ---------------------------------------------------------------------------------
def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _safe_next(request: Request, target: str | None) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    root = _root(request)
    if target and target.startswith(root + "/") and not target.startswith("//"):
        return target
    return root + "/"


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    return value if value in allowed else None


def _region(request: Request) -> str | None:
    return _choice(request, "region", REGIONS)


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _day(request: Request) -> date | None:
    """The ``day`` asked for, None when none is; 400 when it is not a date."""
    text = request.query_params.get("day") or ""
    day = _parse_day(text) if text else None
    if text and day is None:
        raise HTTPException(400, f"day must be a date, YYYY-MM-DD (got {text!r})")
    return day


def _txn_summary(txn: Any, me: Principal) -> dict[str, Any]:
    summary = {
        "txn_id": txn.txn_id,
        "kind": txn.kind,
        "region": txn.region,
        "business_date": txn.business_date,
        "stage": txn.stage,
        "source_id": txn.source_id,
        "amount": queries.amount_of(txn),
        "erp_document_number": txn.erp_document_number,
    }
    if me.role in SEES_PAYLOADS:
        summary["correlation_id"] = txn.correlation_id
    return summary


def _masked(message: str | None) -> str | None:
    """A message as every role may read it: an ERP or validation message can quote a card
    number or an IBAN from the document."""
    return mask_text(message) if message is not None else None


def _masked_exceptions(exceptions: Sequence[TransactionException]) -> list[TransactionException]:
    return [dataclasses.replace(e, message=mask_text(e.message)) for e in exceptions]


# What only a role that sees payloads may read of an exception (finance gets the reason).
ENGINEERING_FIELDS = ("correlation_id", "payload", "erp_response")


def _exception_json(exception: TransactionException, me: Principal) -> dict[str, Any]:
    shown: dict[str, Any] = _json(exception)
    if me.role not in SEES_PAYLOADS:
        for name in ENGINEERING_FIELDS:
            shown.pop(name, None)
    return shown


def _as_json(value: Any, indent: int | None = None) -> str:
    """For reading in a page (the template escapes it): non-ASCII kept, keys sorted."""
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=True, default=str)


def _json(value: Any) -> Any:
    """Dataclasses, dates and counters as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
