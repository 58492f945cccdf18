"""The console's doors: every route and action, walked from the app's own route table, refuses
the anonymous and the wrong role; every form needs the session's CSRF token; session cookies
are HttpOnly, SameSite=Lax and Secure over https; finance never sees a payload and engineers
see one with secrets and card data masked. A real SQLite store, seeded through the Store API."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from resources.errors import AuthenticationFailed
from sync_platform.cli import main
from sync_platform.console.accounts import (
    ROLES,
    Accounts,
    AccountsFile,
    Role,
    TokenEntry,
    UserEntry,
    add_account,
    token_digest,
)
from sync_platform.console.app import create_console
from sync_platform.console.masking import MASK, mask_secrets
from sync_platform.console.security import Access
from sync_platform.console.settings import ConsoleConfigError, ConsoleSettings
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.store import Store, TransactionIn
from sync_platform.transactions import erp_gateway
from sync_platform.transactions.model import CanonicalInvoice, DocumentLine

# Cheap argon2 parameters: the hash carries them, so verifying is quick in tests.
HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"
SECRET = "s" * 48
TOKENS = {role: f"spc_test_token_for_{role}_0123456789abcdef" for role in ROLES}
DAY = date(2026, 10, 15)
CARD = "4242 4242 4242 4242"
IBAN = "GB29NWBK60161331926819"
API_KEY = "sk_live_do_not_show_me"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
GATEWAY = GatewaySettings(billing_webhook_secrets=("whsec_x",), crm_app_secret="crm")


@dataclass
class Console:
    app: Starlette
    store: Store
    txn_id: str
    correlation_id: str
    review_id: int


def seeded_store(url: str) -> tuple[Store, str, str, int]:
    """A Dutch invoice dead-lettered for its unmapped tax rate, its ERP answer carrying
    secrets, and a pending review whose proposal does too."""
    store = Store.open(url)
    line = DocumentLine(
        line_id="il_1", description="Team plan", quantity=1, unit_amount=100_000, amount=100_000
    )
    invoice = CanonicalInvoice(
        source_id="in_nl21",
        number="INV-0042",
        region="emea",
        billing_customer_id="cus_nl",
        currency="EUR",
        business_date=DAY,
        occurred_at=datetime(2026, 10, 15, 9, tzinfo=UTC),
        status="open",
        lines=(line,),
        subtotal=100_000,
        tax=21_000,
        total=121_000,
    )
    store.receive_transactions([TransactionIn.from_canonical(invoice)])
    response = {"api_key": API_KEY, "card": {"last4": "4242"}, "detail": f"card {CARD} {IBAN}"}
    store.record_attempt(
        invoice.txn_id,
        "dead_lettered",
        "error",
        reason_code="tax_code_unmapped",
        message="Tax rate txr_NL21 has no ERP tax group for region emea",
        erp_response=response,
    )
    store.open_exception(
        invoice.txn_id,
        "tax_code_unmapped",
        "Tax rate txr_NL21 has no ERP tax group for region emea (config/posting.yaml)",
    )
    review = store.open_review(
        "emea",
        "change_policy",
        "cust_a",
        "Parent account change after a posted invoice",
        {"password": "hunter2-secret", "bank": IBAN},
        "review-1",
    )
    txn = store.transaction(invoice.txn_id)
    assert txn is not None
    return store, invoice.txn_id, txn.correlation_id, review.id


def accounts() -> Accounts:
    return Accounts(
        AccountsFile(
            users=[
                UserEntry(name=f"{role}-user", role=role, password_hash=HASHER.hash(PASSWORD))
                for role in ROLES
            ],
            tokens=[
                TokenEntry(name=f"{role}-bot", role=role, token_sha256=token_digest(t))
                for role, t in TOKENS.items()
            ],
        ),
        HASHER,
    )


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    # No ERP here: an allowed replay gets as far as asking for one (503), past every guard.
    monkeypatch.delenv("SYNC_ERP_URL", raising=False)
    monkeypatch.delenv("SYNC_ERP_ACCESS_TOKEN", raising=False)
    store, txn_id, correlation_id, review_id = seeded_store(f"sqlite:///{tmp_path / 's.db'}")
    settings = ConsoleSettings(secret=SECRET, users_file=tmp_path / "absent.yaml")
    gateway = create_gateway(
        store, GATEWAY, console=create_console(store, settings, accounts=accounts())
    )
    yield Console(gateway, store, txn_id, correlation_id, review_id)
    store.close()


def console_routes(app: Starlette) -> list[tuple[Route, Access]]:
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == "/console"]
    assert len(mounts) == 1, "the gateway mounts the console at /console"
    found: list[tuple[Route, Access]] = []
    for route in mounts[0].routes:
        assert isinstance(route, Route), f"{route!r}: only plain routes are walked"
        access = getattr(route.endpoint, "access", None)
        assert isinstance(access, Access), f"{route.path} is not made by guarded() or public()"
        found.append((route, access))
    return found


def url_of(route: Route, console: Console) -> str:
    values = {"txn_id": console.txn_id, "review_id": str(console.review_id)}
    path = route.path
    for name in route.param_convertors:
        assert name in values, f"give the route walk a value for {{{name}}} of {route.path}"
        path = re.sub(r"\{" + name + r"(:[^}]*)?\}", values[name], path)
    return "/console" + path


def requests_of(console: Console) -> list[tuple[str, str, Access]]:
    """(method, url, access) for every route and method the console serves."""
    out = []
    for route, access in console_routes(console.app):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, url_of(route, console), access))
    return out


ACTION_FORM = {"decision": "approve", "reason": "checked with sales", "note": "mapping added"}


def sign_in(client: TestClient, role: str) -> str:
    """Sign in as the ``role`` user; the session's CSRF token."""
    page = client.get("/console/sign-in")
    token = CSRF_INPUT.search(page.text)
    assert token, page.text
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "name": f"{role}-user", "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    found = CSRF_INPUT.search(client.get("/console/approvals").text)
    assert found
    return found.group(1)


def nothing_changed(console: Console) -> None:
    assert console.store.review(console.review_id).status == "pending"
    assert [a.to_stage for a in console.store.attempts(console.txn_id)][-1] == "dead_lettered"


def test_every_route_is_guarded_and_the_walk_covers_each_kind(console: Console) -> None:
    walked = requests_of(console)
    methods = {(m, a.public, bool(a.roles) and a.roles != frozenset(ROLES)) for m, _, a in walked}
    # Pages, API reads, admin-only actions and the public sign-in page all exist.
    assert ("GET", False, False) in methods and ("POST", False, True) in methods
    assert [u for m, u, a in walked if a.public] == ["/console/sign-in", "/console/sign-in"]


def test_anonymous_requests_are_refused_everywhere(console: Console) -> None:
    client = TestClient(console.app)
    for method, url, access in requests_of(console):
        if access.public:
            continue
        answer = client.request(method, url, data=ACTION_FORM, follow_redirects=False)
        if access.api:
            assert answer.status_code == 401, (method, url)
            assert answer.headers["www-authenticate"].startswith("Bearer")
        else:
            assert answer.status_code == 303, (method, url)
            assert answer.headers["location"].startswith("/console/sign-in?next="), url
    nothing_changed(console)


def test_a_bad_bearer_token_gets_401_on_pages_and_api_alike(console: Console) -> None:
    for n, (method, url, access) in enumerate(requests_of(console)):
        if access.public:
            continue
        # An address of its own per route: 20 bad tokens from one address are refused (429).
        client = TestClient(console.app, client=(f"192.0.2.{n}", 50000))
        for header in ("Bearer spc_not_a_token", "Basic YWRtaW46YWRtaW4=", "Bearer"):
            answer = client.request(method, url, headers={"Authorization": header})
            assert answer.status_code == 401, (method, url, header)
    nothing_changed(console)


@pytest.mark.parametrize("role", ROLES)
def test_wrong_roles_get_403_and_right_roles_get_through(console: Console, role: Role) -> None:
    by_session = TestClient(console.app)
    csrf = sign_in(by_session, role)
    by_token = TestClient(console.app, headers={"Authorization": f"Bearer {TOKENS[role]}"})
    for method, url, access in requests_of(console):
        if access.public or method != "GET":
            continue
        for client in (by_session, by_token):
            answer = client.get(url)
            expected = 200 if role in access.roles else 403
            assert answer.status_code == expected, (role, url, answer.text[:200])
    for method, url, access in requests_of(console):
        if method != "POST" or access.public or role in access.roles:
            continue
        form = {**ACTION_FORM, "csrf_token": csrf}
        assert by_session.post(url, data=form).status_code == 403, (role, url)
        assert by_token.post(url, data=ACTION_FORM).status_code == 403, (role, url)
    nothing_changed(console)


def test_forms_without_the_sessions_csrf_token_are_refused(console: Console) -> None:
    client = TestClient(console.app)
    csrf = sign_in(client, "admin")
    posts = [(u, a) for m, u, a in requests_of(console) if m == "POST" and not a.api]
    assert posts
    for url, _ in posts:
        for form in (ACTION_FORM, {**ACTION_FORM, "csrf_token": "forged"}):
            answer = client.post(url, data=form, follow_redirects=False)
            assert answer.status_code == 403, (url, form)
            assert "CSRF" in answer.text
        # The same form from another session carries that session's token: refused too.
        other = TestClient(console.app)
        other_csrf = sign_in(other, "admin")
        forged = client.post(url, data={**ACTION_FORM, "csrf_token": other_csrf})
        assert forged.status_code == 403
    nothing_changed(console)
    # With its own token, the admin's approval goes through and names who and why.
    answer = client.post(
        f"/console/approvals/{console.review_id}/decide",
        data={**ACTION_FORM, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    review = console.store.review(console.review_id)
    assert (review.status, review.decided_by, review.reason) == (
        "approved",
        "admin-user",
        "checked with sales",
    )


def test_the_sign_in_form_needs_its_csrf_token_too(console: Console) -> None:
    client = TestClient(console.app)
    client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"name": "admin-user", "password": PASSWORD})
    assert answer.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_replay_by_an_admin_passes_every_guard_and_needs_a_note(console: Console) -> None:
    client = TestClient(console.app)
    csrf = sign_in(client, "admin")
    form = {"csrf_token": csrf, "txn_id": console.txn_id}
    assert client.post("/console/replay", data=form).status_code == 400
    answer = client.post("/console/replay", data={**form, "note": "NL21 mapped"})
    assert answer.status_code == 503
    assert "SYNC_ERP_URL" in answer.text
    nothing_changed(console)


def test_a_non_ascii_csrf_token_is_refused_not_a_crash(console: Console) -> None:
    client = TestClient(console.app)
    sign_in(client, "admin")
    form = {**ACTION_FORM, "csrf_token": "jeton-forgé-✓"}
    answer = client.post("/console/replay", data=form, follow_redirects=False)
    assert answer.status_code == 403 and "CSRF" in answer.text
    nothing_changed(console)


@pytest.fixture
def erp_configured(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    # After the console fixture clears them. Nothing listens there: the replay stops
    # before it would call out.
    monkeypatch.setenv("SYNC_ERP_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SYNC_ERP_ACCESS_TOKEN", "token")


@pytest.mark.usefixtures("erp_configured")
def test_a_replay_under_a_broken_posting_config_is_a_409_naming_the_file(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parents[3] / "config", config)
    (config / "posting.yaml").write_text("max_attempts: three\n")
    monkeypatch.setenv("SYNC_CONFIG_DIR", str(config))
    client = TestClient(console.app)
    csrf = sign_in(client, "admin")

    answer = client.post(
        "/console/replay",
        data={"csrf_token": csrf, "txn_id": console.txn_id, "note": "NL21 mapped"},
    )

    assert answer.status_code == 409
    assert "posting.yaml" in answer.text and "a config file is unusable" in answer.text
    nothing_changed(console)
    # Asked for, so recorded: who replayed what, even though nothing could be posted.
    assert [r.action for r in console.store.audit_records()][-1] == "replay_requested"


@pytest.mark.usefixtures("erp_configured")
def test_a_replay_the_erp_refuses_to_authenticate_is_a_502(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AuthenticationFailed("erp", "invalid_token", status=401)

    monkeypatch.setattr(erp_gateway, "replay_exceptions", refused)
    by_token = TestClient(console.app, headers={"Authorization": f"Bearer {TOKENS['admin']}"})

    answer = by_token.post("/console/api/replay", data={"note": "NL21 mapped"})

    assert answer.status_code == 502
    problem = answer.json()["error"]["message"]
    assert "the ERP refused the platform" in problem and "SYNC_ERP_ACCESS_TOKEN" in problem


def test_a_reason_is_required_to_approve_or_reject(console: Console) -> None:
    client = TestClient(console.app)
    csrf = sign_in(client, "admin")
    url = f"/console/approvals/{console.review_id}/decide"
    for decision in ("approve", "reject"):
        answer = client.post(url, data={"csrf_token": csrf, "decision": decision, "reason": " "})
        assert answer.status_code == 400
    nothing_changed(console)
    by_token = TestClient(console.app, headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    answer = by_token.post(
        f"/console/api/approvals/{console.review_id}/decide",
        data={"decision": "reject", "reason": "duplicate proposal"},
    )
    assert answer.json() == {"review": console.review_id, "status": "rejected"}
    assert console.store.review(console.review_id).decided_by == "admin-bot"


def set_cookie(answer: Any) -> str:
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    assert len(cookies) == 1, cookies
    return str(cookies[0]).lower()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_session_cookies_are_httponly_samesite_and_secure_over_https(
    console: Console, scheme: str
) -> None:
    client = TestClient(console.app, base_url=f"{scheme}://testserver")
    page = client.get("/console/sign-in")
    token = CSRF_INPUT.search(page.text)
    assert token
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "name": "finance-user", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = set_cookie(answer)
    assert cookie.startswith("sync_console_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    assert ("secure" in cookie.split("; ")) == (scheme == "https")


def test_a_tampered_session_cookie_is_not_a_session(console: Console) -> None:
    client = TestClient(console.app)
    sign_in(client, "finance")
    value = client.cookies["sync_console_session"]
    client.cookies.set("sync_console_session", "x" + value, path="/console")
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_wrong_password_and_foreign_next_are_refused(console: Console) -> None:
    client = TestClient(console.app)
    token = CSRF_INPUT.search(client.get("/console/sign-in").text)
    assert token
    form = {"csrf_token": token.group(1), "name": "admin-user", "next": "//evil.example/x"}
    assert client.post("/console/sign-in", data={**form, "password": "guess"}).status_code == 401
    assert client.post("/console/sign-in", data={**form, "name": "nobody"}).status_code == 401
    answer = client.post(
        "/console/sign-in", data={**form, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.headers["location"] == "/console/"


def test_finance_sees_the_business_reason_and_amount_but_no_payload(console: Console) -> None:
    client = TestClient(console.app)
    sign_in(client, "finance")
    page = client.get(f"/console/transactions/{console.txn_id}").text
    assert "Tax rate txr_NL21 has no ERP tax group for region emea" in page
    assert "1210.00 EUR" in page
    for hidden in (console.correlation_id, 'id="payload"', 'id="attempts"', "Team plan", API_KEY):
        assert hidden not in page
    answer = client.get(f"/console/api/transactions/{console.txn_id}")
    api = answer.json()
    assert "payload" not in api and "attempts" not in api and "correlation_id" not in api
    assert api["exceptions"][0]["reason_code"] == "tax_code_unmapped"
    exceptions = client.get("/console/api/exceptions")
    assert exceptions.json()["exceptions"][0]["txn_id"] == console.txn_id
    for body in (answer.text, exceptions.text):
        assert console.correlation_id not in body
    approvals = client.get("/console/approvals").text
    assert "hunter2" not in approvals and IBAN not in approvals


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_engineers_see_payload_correlation_and_attempts_with_secrets_masked(
    console: Console, role: str
) -> None:
    client = TestClient(console.app)
    sign_in(client, role)
    page = client.get(f"/console/transactions/{console.txn_id}").text
    assert console.correlation_id in page
    assert 'id="payload"' in page and 'id="attempts"' in page and "dead_lettered" in page
    assert "Team plan" in page  # the payload itself is there
    for secret in (API_KEY, CARD, IBAN):
        assert secret not in page, secret
    assert MASK in page
    payload = client.get(f"/console/transactions/{console.txn_id}/payload").json()
    # A document number is not a card number: engineers look invoices up by it.
    assert payload["number"] == "INV-0042" and payload["total"] == 121_000
    api = client.get("/console/api/exceptions").json()
    assert api["exceptions"][0]["correlation_id"] == console.correlation_id
    approvals = client.get("/console/approvals").text
    assert "hunter2" not in approvals and IBAN not in approvals and MASK in approvals


@pytest.mark.parametrize("role", ROLES)
def test_card_numbers_in_messages_are_masked_for_every_role(console: Console, role: str) -> None:
    other = CanonicalInvoice(
        source_id="in_card",
        region="emea",
        billing_customer_id="cus_nl",
        currency="EUR",
        business_date=DAY,
        occurred_at=datetime(2026, 10, 15, 10, tzinfo=UTC),
        status="open",
        lines=(),
        subtotal=0,
        tax=0,
        total=0,
    )
    console.store.receive_transactions([TransactionIn.from_canonical(other)])
    quoted = "4111.1111.1111.1111"
    message = f"ERP refused the document: card {quoted} is not a payment term"
    console.store.record_attempt(
        other.txn_id, "dead_lettered", "error", reason_code="erp_refused", message=message
    )
    console.store.open_exception(other.txn_id, "erp_refused", message)
    client = TestClient(console.app)
    sign_in(client, role)

    for url in (
        f"/console/transactions/{other.txn_id}",
        "/console/exceptions",
        f"/console/api/transactions/{other.txn_id}",
        "/console/api/exceptions",
    ):
        body = client.get(url).text
        assert quoted not in body, url
        assert f"card {MASK} is not a payment term" in body, url


def test_masking_covers_keys_and_digit_runs() -> None:
    masked = mask_secrets(
        {
            "card": {"number": "4242424242424242", "cvc": "123"},
            "client_secret": "pi_secret",
            "access_token": "tok",
            "Password": "p",
            "api_key": "k",
            "customer": {"iban": IBAN, "name": "Acme"},
            "memo": f"paid with {CARD}, refund to {IBAN}",
            "lines": [{"note": "pan 5555-5555-5555-4444"}],
            "total": 121_000,
            "X-Api-Key": "k",
            "private-key": "-----BEGIN",
            "db_credentials": {"user": "u"},
            "Set-Cookie": "session=1",
            "payment_method": {"type": "card", "number": "4000056655665556"},
            "source": {"number": "000123456789"},
            "bank_account": {"number": "123456789"},
            "number": "INV-0042",
            "erp": {"document": {"number": "103001"}},
            "error_body": '{"request": {"card_number": "x", "invoice": "INV-0042"}}',
            "dotted": "4242.4242.4242.4242",
        }
    )
    assert masked["card"] == masked["client_secret"] == masked["access_token"] == MASK
    assert masked["Password"] == masked["api_key"] == masked["customer"]["iban"] == MASK
    assert masked["customer"]["name"] == "Acme" and masked["total"] == 121_000
    assert masked["memo"] == f"paid with {MASK}, refund to {MASK}"
    assert masked["lines"][0]["note"] == f"pan {MASK}"
    for key in ("X-Api-Key", "private-key", "db_credentials", "Set-Cookie"):
        assert masked[key] == MASK, key
    assert masked["payment_method"] == {"type": "card", "number": MASK}
    assert masked["source"]["number"] == masked["bank_account"]["number"] == MASK
    assert masked["number"] == "INV-0042" and masked["erp"]["document"]["number"] == "103001"
    assert json.loads(masked["error_body"]) == {
        "request": {"card_number": MASK, "invoice": "INV-0042"}
    }
    assert masked["dotted"] == MASK


def test_the_console_will_not_start_without_a_secret_outside_development() -> None:
    with pytest.raises(ConsoleConfigError, match="set SYNC_CONSOLE_SECRET"):
        ConsoleSettings.from_env({})
    with pytest.raises(ConsoleConfigError, match="at least 32"):
        ConsoleSettings.from_env({"SYNC_CONSOLE_SECRET": "short"})
    dev = ConsoleSettings.from_env({"SYNC_CONSOLE_DEV": "1", "SYNC_CONSOLE_USERS": "/x.yaml"})
    assert len(dev.secret) >= 32 and dev.users_file == Path("/x.yaml")
    assert dev.secret not in repr(dev)


def test_add_user_writes_hashes_that_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "console_users.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = ["console", "add-user", "--name", "fiona", "--role", "finance", "--file", str(path)]
    assert main([*args, "--password-stdin"]) == 0
    token_args = ["console", "add-user", "--name", "ci", "--role", "engineer", "--token"]
    assert main([*token_args, "--file", str(path)]) == 0
    token = re.search(r"shown once: (spc_\S+)", capsys.readouterr().out)
    assert token
    text = path.read_text()
    assert PASSWORD not in text and token.group(1) not in text and "$argon2id$" in text
    assert yaml.safe_load(text)["users"][0]["role"] == "finance"
    loaded = Accounts.load(path)
    fingerprint = loaded.fingerprint("fiona")
    assert fingerprint is not None
    assert loaded.sign_in("fiona", PASSWORD) == loaded.signed_in("fiona", fingerprint)
    assert loaded.sign_in("fiona", "wrong password") is None
    bearer = loaded.bearer(token.group(1))
    assert bearer is not None and (bearer.name, bearer.role) == ("ci", "engineer")


def test_an_account_removed_from_the_file_loses_its_session_and_token(tmp_path: Path) -> None:
    store, *_ = seeded_store(f"sqlite:///{tmp_path / 's.db'}")
    users = tmp_path / "console_users.yaml"
    add_account(users, "engineer-user", "engineer", password=PASSWORD, hasher=HASHER)
    add_account(users, "engineer-bot", "engineer", token=TOKENS["engineer"])
    app = create_console(store, ConsoleSettings(secret=SECRET, users_file=users))
    client = TestClient(create_gateway(store, GATEWAY, console=app))
    sign_in(client, "engineer")
    bot = {"Authorization": f"Bearer {TOKENS['engineer']}"}
    assert client.get("/console/api/exceptions", headers=bot).status_code == 200
    users.write_text("users: []\ntokens: []\n")
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert client.get("/console/api/exceptions", headers=bot).status_code == 401
    store.close()
