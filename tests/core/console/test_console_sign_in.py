"""Signing in and staying signed in: repeated failed sign-ins and unknown bearer tokens are
refused for a while (429 with Retry-After), timed by the console's clock so no test sleeps; a
session ends when its account is removed, given another role or another password, and at
sign-out; the exceptions page's replay takes exactly the exceptions the page listed."""

from __future__ import annotations

import json
import logging
import os
import re
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import itsdangerous
import pytest
import yaml
from starlette.applications import Starlette
from starlette.testclient import TestClient
from test_console_routes import (
    CSRF_INPUT,
    GATEWAY,
    HASHER,
    PASSWORD,
    SECRET,
    TOKENS,
    accounts,
    seeded_store,
    sign_in,
)

from sync_platform.console.accounts import add_account
from sync_platform.console.app import create_console
from sync_platform.console.settings import ConsoleSettings
from sync_platform.console.throttle import Throttle
from sync_platform.gateway.app import create_gateway
from sync_platform.store import Store, TransactionIn
from sync_platform.transactions import erp_gateway, flow

MINUTE = timedelta(minutes=1)


class Clock:
    """The console's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 10, 15, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class Console:
    app: Starlette
    store: Store
    clock: Clock

    def client(self, address: str = "198.51.100.1", **options: Any) -> TestClient:
        return TestClient(self.app, client=(address, 50000), **options)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    clock = Clock()
    store, *_ = seeded_store(f"sqlite:///{tmp_path / 's.db'}")
    settings = ConsoleSettings(secret=SECRET, users_file=tmp_path / "absent.yaml")
    app = create_console(store, settings, accounts=accounts(), clock=clock)
    yield Console(create_gateway(store, GATEWAY, console=app), store, clock)
    store.close()


def try_sign_in(client: TestClient, name: str, password: str) -> httpx.Response:
    token = CSRF_INPUT.search(client.get("/console/sign-in").text)
    assert token
    return client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "name": name, "password": password},
        follow_redirects=False,
    )


def problem(answer: httpx.Response) -> str:
    found = re.search(r'id="problem">([^<]*)<', answer.text)
    assert found, answer.text
    return found.group(1)


# -- throttling ------------------------------------------------------------------------------
def test_five_failed_sign_ins_for_a_name_from_an_address_refuse_it_there_until_the_window_passes(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    client = console.client()
    caplog.set_level(logging.WARNING, "sync_platform.console")
    for n in range(5):
        assert try_sign_in(client, "admin-user", f"guess-{n}").status_code == 401

    refused = try_sign_in(client, "admin-user", PASSWORD)  # even the right password

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "900"
    assert "too many failed sign-ins" in problem(refused) and "15 minutes" in problem(refused)
    assert client.get("/console/", follow_redirects=False).status_code == 303
    # Other names from the same address are not held up, nor the name from elsewhere (its
    # owner cannot be kept out by whoever knows the name).
    assert try_sign_in(console.client(), "finance-user", PASSWORD).status_code == 303
    assert try_sign_in(console.client("203.0.113.9"), "admin-user", PASSWORD).status_code == 303
    console.clock.advance(10 * MINUTE)
    assert try_sign_in(client, "admin-user", PASSWORD).headers["retry-after"] == "300"
    console.clock.advance(5 * MINUTE)
    assert try_sign_in(client, "admin-user", PASSWORD).status_code == 303
    # Each lockout is logged with the name, never with what was tried.
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and "'admin-user from " in logged[0]
    assert not any("guess" in m or PASSWORD in m for m in logged)


def test_a_refusal_does_not_tell_whether_the_name_is_an_account(console: Console) -> None:
    answers = []
    for address, name in (("198.51.100.7", "admin-user"), ("198.51.100.8", "nobody-here")):
        client = console.client(address)
        for _ in range(5):
            assert try_sign_in(client, name, "guess").status_code == 401
        answers.append(try_sign_in(client, name, "guess"))
    known, unknown = answers
    assert known.status_code == unknown.status_code == 429
    assert known.headers["retry-after"] == unknown.headers["retry-after"]
    assert problem(known) == problem(unknown)


def test_a_successful_sign_in_clears_the_names_failures(console: Console) -> None:
    client = console.client()
    for _ in range(4):
        assert try_sign_in(client, "admin-user", "guess").status_code == 401
    assert try_sign_in(client, "admin-user", PASSWORD).status_code == 303
    for _ in range(4):
        assert try_sign_in(client, "admin-user", "guess").status_code == 401
    assert try_sign_in(client, "admin-user", PASSWORD).status_code == 303


def test_twenty_failed_sign_ins_from_one_address_refuse_that_address(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "sync_platform.console")
    client = console.client("203.0.113.5")
    for n in range(20):  # five names, four each: no name is refused on its own
        answer = try_sign_in(client, f"name-{n % 5}", "guess")
        assert answer.status_code == 401, n

    refused = try_sign_in(client, "admin-user", PASSWORD)

    assert refused.status_code == 429 and refused.headers["retry-after"] == "900"
    assert try_sign_in(console.client("203.0.113.6"), "admin-user", PASSWORD).status_code == 303
    assert any("'203.0.113.5'" in r.getMessage() for r in caplog.records)
    console.clock.advance(15 * MINUTE)
    assert try_sign_in(client, "admin-user", PASSWORD).status_code == 303


def test_twenty_unknown_bearer_tokens_from_one_address_refuse_its_tokens(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "sync_platform.console")
    guessing = console.client("203.0.113.9")
    other = console.client("203.0.113.10")
    good = {"Authorization": f"Bearer {TOKENS['engineer']}"}
    for n in range(20):
        bad = {"Authorization": f"Bearer spc_guess_{n}"}
        assert guessing.get("/console/api/exceptions", headers=bad).status_code == 401

    refused = guessing.get("/console/api/exceptions", headers=good)  # even a good one

    assert refused.status_code == 429 and refused.headers["retry-after"] == "900"
    assert "too many unknown bearer tokens" in refused.json()["error"]["message"]
    assert other.get("/console/api/exceptions", headers=good).status_code == 200
    assert any("'203.0.113.9'" in r.getMessage() for r in caplog.records)
    assert not any("spc_" in r.getMessage() for r in caplog.records)
    console.clock.advance(15 * MINUTE)
    assert guessing.get("/console/api/exceptions", headers=good).status_code == 200


def test_making_many_keys_does_not_free_a_locked_one() -> None:
    clock = Clock()
    throttle = Throttle(2, clock, max_keys=50)
    throttle.fail("locked")
    throttle.fail("locked")
    for n in range(500):  # junk names from many addresses, one failure each
        throttle.fail(f"junk-{n}")
    assert len(throttle) <= 50
    assert throttle.wait("locked") == 900


def test_an_ipv6_client_counts_as_its_64() -> None:
    from starlette.requests import Request

    from sync_platform.console.throttle import client_address

    def address(host: str) -> str:
        return client_address(Request({"type": "http", "client": (host, 1234), "headers": []}))

    assert address("2001:db8:1:2::17") == address("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::17") != address("2001:db8:1:2::17")
    assert address("198.51.100.7") == "198.51.100.7"


def test_the_throttle_forgets_expired_keys_and_keeps_a_bounded_number() -> None:
    clock = Clock()
    throttle = Throttle(2, clock, max_keys=50)
    for n in range(500):
        throttle.fail(f"name-{n}")
    assert len(throttle) <= 50
    throttle.fail("name-499")
    assert throttle.wait("name-499") == 900  # the newest keys are still counted
    clock.advance(15 * MINUTE)
    assert throttle.wait("name-499") is None
    throttle.fail("x" * 64_000)
    throttle.fail("x" * 64_000)
    assert throttle.wait("x" * 64_000) == 900
    assert len(throttle) <= 50


# -- sessions --------------------------------------------------------------------------------
@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "console_users.yaml"
    add_account(path, "engineer-user", "engineer", password=PASSWORD, hasher=HASHER)
    return path


@pytest.fixture
def watched(tmp_path: Path, users: Path) -> Iterator[Starlette]:
    """A console reading the accounts file as it changes."""
    store, *_ = seeded_store(f"sqlite:///{tmp_path / 's.db'}")
    app = create_console(store, ConsoleSettings(secret=SECRET, users_file=users))
    yield create_gateway(store, GATEWAY, console=app)
    store.close()


def touched(path: Path) -> None:
    """A stamp the watcher cannot mistake for the last one (a file rewritten at the same
    size within the file system's timestamp granularity would look unchanged)."""
    stamp = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(stamp, stamp))


def change_role(path: Path) -> None:
    entries = yaml.safe_load(path.read_text())
    entries["users"][0]["role"] = "admin"  # even a promotion signs the session out
    path.write_text(yaml.safe_dump(entries))


CHANGES = {
    "removed": lambda path: path.write_text("users: []\ntokens: []\n"),
    "role changed": change_role,
    "password changed": lambda path: add_account(
        path, "engineer-user", "engineer", password="a new password entirely", hasher=HASHER
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_session_ends_when_its_account_changes(
    watched: Starlette, users: Path, change: str
) -> None:
    client = TestClient(watched)
    sign_in(client, "engineer")
    assert client.get("/console/", follow_redirects=False).status_code == 200

    CHANGES[change](users)
    touched(users)

    answer = client.get("/console/", follow_redirects=False)
    assert answer.status_code == 303, change
    assert answer.headers["location"].startswith("/console/sign-in")
    assert answer.headers["set-cookie"].startswith("sync_console_session=null")
    assert client.get("/console/api/exceptions").status_code == 401


def test_a_session_lives_on_when_other_accounts_change(watched: Starlette, users: Path) -> None:
    client = TestClient(watched)
    sign_in(client, "engineer")
    add_account(users, "finance-user", "finance", password=PASSWORD, hasher=HASHER)
    touched(users)
    assert client.get("/console/", follow_redirects=False).status_code == 200


def test_a_session_holding_only_a_name_is_not_signed_in(console: Console) -> None:
    """What sessions held before they held the account's fingerprint."""
    data = b64encode(json.dumps({"user": "admin-user", "csrf": "x"}).encode())
    cookie = itsdangerous.TimestampSigner(SECRET).sign(data).decode()
    client = console.client(cookies={"sync_console_session": cookie})
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_signing_out_clears_the_session(console: Console) -> None:
    client = console.client()
    csrf = sign_in(client, "admin")
    answer = client.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
    assert answer.headers["set-cookie"].startswith("sync_console_session=null")
    assert "sync_console_session" not in client.cookies
    assert client.get("/console/", follow_redirects=False).status_code == 303


# -- replaying what the exceptions page lists ------------------------------------------------
EARLY = datetime(2026, 10, 14, 9, tzinfo=UTC)
LATE = datetime(2026, 10, 16, 9, tzinfo=UTC)
# (txn id, kind, source system, region, reason, opened at)
OPEN = [
    ("billing:invoice:in_late", "invoice", "billing", "emea", "tax_code_unmapped", LATE),
    ("billing:payment:py_1", "payment", "billing", "emea", "tax_code_unmapped", EARLY),
    ("legacy:invoice:li_1", "invoice", "legacy", "emea", "tax_code_unmapped", EARLY),
    ("billing:invoice:in_early", "invoice", "billing", "emea", "tax_code_unmapped", EARLY),
    ("billing:invoice:in_na", "invoice", "billing", "na", "tax_code_unmapped", LATE),
    ("billing:invoice:in_refused", "invoice", "billing", "emea", "erp_refused", LATE),
]


def open_exception(store: Store, clock: Clock, row: tuple[Any, ...]) -> None:
    txn_id, kind, source, region, reason, opened = row
    clock.now = opened
    store.receive_transactions(
        [
            TransactionIn(
                txn_id=txn_id,
                kind=kind,
                source_system=source,
                source_id=txn_id.rsplit(":", 1)[1],
                region=region,
                business_date=opened.date(),
                source_version="1",
                correlation_id=f"corr-{txn_id}",
                payload={},
            )
        ]
    )
    store.open_exception(txn_id, reason, f"{reason} for {txn_id}")


@dataclass
class Replays:
    client: TestClient
    csrf: str
    store: Store
    clock: Clock
    taken: list[set[str]]  # the transactions each replay took


@pytest.fixture
def replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replays]:
    monkeypatch.setenv("SYNC_ERP_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SYNC_ERP_ACCESS_TOKEN", "token")
    clock = Clock()
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", clock=clock)
    for row in OPEN:
        open_exception(store, clock, row)
    taken: list[set[str]] = []

    def replay(erp: Any, store: Store, selection: Any, note: str, **kwargs: Any) -> Any:
        # What the real replay would take: its own choice from the selection.
        groups = flow.replay_candidates(store, selection)
        taken.append({txn_id for ids in groups.values() for txn_id in ids})
        return {"selected": len(taken[-1]), "groups": {}, "still_open": {}}

    monkeypatch.setattr(erp_gateway, "replay_exceptions", replay)
    settings = ConsoleSettings(secret=SECRET, users_file=tmp_path / "absent.yaml")
    app = create_console(store, settings, accounts=accounts())
    client = TestClient(create_gateway(store, GATEWAY, console=app))
    yield Replays(client, sign_in(client, "admin"), store, clock, taken)
    store.close()


def listed(page: str) -> set[str]:
    table = page.split('id="exceptions"', 1)[1]
    return set(re.findall(r'href="/console/transactions/([^"]+)"', table))


def replay_form(page: str) -> dict[str, str]:
    form = page.split('id="replay-filtered"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "kind=payment",
        "source=legacy",
        "reason=tax_code_unmapped&region=emea&kind=invoice&source=billing",
        "since=2026-10-15",
        "region=emea&since=2026-10-16",
    ],
)
def test_the_exceptions_pages_replay_takes_exactly_what_it_lists(
    replays: Replays, query: str
) -> None:
    page = replays.client.get(f"/console/exceptions?{query}").text
    shown = listed(page)
    assert shown, query

    answer = replays.client.post(
        "/console/replay",
        data={**replay_form(page), "note": "mapping added"},
        follow_redirects=False,
    )

    assert answer.status_code == 303, answer.text
    assert replays.taken == [shown], query
    back = urlsplit(answer.headers["location"])  # to the same list
    assert back.path == "/console/exceptions" and parse_qs(back.query) == parse_qs(query)


def test_the_filters_narrow_the_list_as_they_say(replays: Replays) -> None:
    def shown(query: str) -> set[str]:
        return listed(replays.client.get(f"/console/exceptions?{query}").text)

    assert shown("kind=payment") == {"billing:payment:py_1"}
    assert shown("source=legacy") == {"legacy:invoice:li_1"}
    assert "billing:invoice:in_early" not in shown("since=2026-10-15")
    assert shown("region=na&since=2026-10-16") == {"billing:invoice:in_na"}


def test_a_replay_of_a_list_that_changed_since_it_was_shown_is_refused(
    replays: Replays,
) -> None:
    page = replays.client.get("/console/exceptions?kind=invoice&region=emea").text
    later = ("billing:invoice:in_new", "invoice", "billing", "emea", "tax_code_unmapped", LATE)
    open_exception(replays.store, replays.clock, later)

    answer = replays.client.post(
        "/console/replay", data={**replay_form(page), "note": "mapping added"}
    )

    assert answer.status_code == 409 and "reload the page" in answer.text
    assert replays.taken == []


def test_the_api_replay_honours_kind_and_source_and_refuses_unknown_ones(
    replays: Replays,
) -> None:
    bot = TestClient(replays.client.app, headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    for field, value in (("kind", "invoices"), ("region", "mars"), ("since", "yesterday")):
        answer = bot.post("/console/api/replay", data={"note": "fixed", field: value})
        assert answer.status_code == 400 and value in answer.json()["error"]["message"]
    assert replays.taken == []
    for field, value in (("kind", "payment"), ("source", "legacy")):
        answer = bot.post("/console/api/replay", data={"note": "fixed", field: value})
        assert answer.json()["selected"] == 1
    assert replays.taken == [{"billing:payment:py_1"}, {"legacy:invoice:li_1"}]
