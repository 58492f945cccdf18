"""The console in a real browser (Debian's headless Chromium, driven by Playwright), over the
gateway, the three sandboxes and a real store: an invoice taxed at NL 21 % fails to post
because the rate has no ERP tax group; finance sees why but not the payload, an engineer sees
payload, correlation id and attempts, and an admin replays it once the mapping is added and
sees it posted. Screenshots of the main pages land in ``tests/_artifacts/screenshots/console``
(or ``$SYNC_SCREENSHOT_DIR``)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from e2e_platform import Platform, billing_customers_in_erp, erp_documents, running_platform

from assets.customers import customer_assets
from assets.partitions import date_region_key
from assets.transactions import transaction_assets
from sandboxes.kit.server import free_port, serving_in_thread
from sync_platform.console.accounts import add_account
from sync_platform.console.app import create_console
from sync_platform.console.settings import ConsoleSettings
from sync_platform.gateway.app import create_gateway
from sync_platform.gateway.settings import GatewaySettings
from sync_platform.transactions.billing_mapping import invoice_issued_at, utc_day

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: without these Chromium keeps dialling Google's hosts.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORLD = 30  # holds Dutch invoices for customers the ERP knows
PASSWORD = "a long enough console password"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(
    os.environ.get("SYNC_SCREENSHOT_DIR")
    or REPO / "tests" / "_artifacts" / "screenshots" / "console"
)
TIMEOUT_MS = 60_000


@dataclass
class Scene:
    platform: Platform
    console_url: str
    invoice_id: str
    txn_id: str
    correlation_id: str
    day: str


def dutch_invoice(platform: Platform) -> Any:
    """A finalized invoice taxed at txr_NL21 whose customer the ERP holds."""
    in_erp = billing_customers_in_erp(platform)
    for invoice in platform.billing.list_invoices():
        if invoice.status in ("draft", "void") or str(invoice.customer) not in in_erp:
            continue
        line = invoice.lines.data[0]
        tax = (line.get("taxes") or [{}])[0].get("tax_rate_details", {}).get("tax_rate")
        if tax == "txr_NL21" and invoice.currency.upper() == "EUR":
            return invoice
    raise AssertionError("the seeded world should hold a Dutch invoice of a synced customer")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("console")
    with running_platform(tmp, WORLD) as platform:
        platform.materialize(customer_assets, "emea")
        invoice = dutch_invoice(platform)
        day = utc_day(invoice_issued_at(invoice)).isoformat()
        platform.materialize(transaction_assets, date_region_key(day, "emea"))
        users = tmp / "console_users.yaml"
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for role in ("finance", "engineer", "admin"):
            add_account(users, f"{role}-user", role, password=PASSWORD, hasher=cheap)
        monkeypatch = pytest.MonkeyPatch()
        # The console builds its ErpResource from what `sync-platform replay` reads.
        monkeypatch.setenv("SYNC_ERP_URL", platform.erp.base_url)
        monkeypatch.setenv("SYNC_ERP_ACCESS_TOKEN", platform.erp.access_token)
        console = create_console(
            platform.store, ConsoleSettings(secret="browser-test-" + "k" * 40, users_file=users)
        )
        gateway = create_gateway(
            platform.store,
            GatewaySettings(billing_webhook_secrets=("whsec_unused",), crm_app_secret="unused"),
            console=console,
        )
        port = free_port()
        txn = platform.store.transaction(f"billing:invoice:{invoice.id}")
        assert txn is not None
        try:
            with serving_in_thread(gateway, "127.0.0.1", port, "gateway"):
                yield Scene(
                    platform,
                    f"http://127.0.0.1:{port}/console",
                    invoice.id,
                    txn.txn_id,
                    txn.correlation_id,
                    day,
                )
        finally:
            monkeypatch.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium, "
            "which .ci/run installs (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


def signed_in(browser: Any, scene: Scene, role: str, start: str) -> Any:
    """A fresh browser context signed in as the ``role`` user, on ``start``."""
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(scene.console_url + start)
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("Name").fill(f"{role}-user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text(f"{role}-user ({role})")
    return page


def posted_invoices_shown(page: Any) -> int:
    """The figures page's count of the partition's invoices in the ERP."""
    row = page.locator("#figures tr", has_text="invoices posted / generated")
    return int(row.locator("td").nth(1).inner_text())


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_finance_sees_the_business_reason_but_not_the_payload(browser: Any, scene: Scene) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, scene, "finance", "/exceptions")
    groups = page.locator("#exception-groups")
    expect(groups).to_contain_text("tax_code_unmapped")
    expect(page.locator("#replay-filtered")).to_have_count(0)
    shot(page, "exceptions-finance")
    page.get_by_role("link", name=scene.invoice_id, exact=True).click()
    reason = page.locator("#business-reason")
    expect(reason).to_contain_text("Tax rate txr_NL21 has no ERP tax group for region emea")
    expect(page.locator("#amount")).to_contain_text("EUR")
    expect(page.locator("#stage")).to_have_text("dead_lettered")
    for hidden in ("#payload", "#attempts", "#correlation-id", "#replay-one"):
        expect(page.locator(hidden)).to_have_count(0)
    assert scene.correlation_id not in page.content()
    shot(page, "transaction-finance")
    answer = page.goto(f"{scene.console_url}/transactions/{scene.txn_id}/payload")
    assert answer is not None and answer.status == 403


def test_an_engineer_sees_payload_correlation_id_and_attempts(browser: Any, scene: Scene) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, scene, "engineer", f"/transactions/{scene.txn_id}")
    expect(page.locator("#correlation-id")).to_have_text(scene.correlation_id)
    expect(page.locator("#payload")).to_contain_text('"tax_rate_id": "txr_NL21"')
    expect(page.locator("#payload")).to_contain_text(scene.invoice_id)
    attempts = page.locator("#attempts tr")
    expect(attempts.filter(has_text="tax_code_unmapped")).not_to_have_count(0)
    expect(page.locator("#replay-one")).to_have_count(0)  # engineers look, admins act
    shot(page, "transaction-engineer")


def test_an_admin_replays_it_after_the_mapping_is_fixed_and_it_is_posted(
    browser: Any, scene: Scene
) -> None:
    from playwright.sync_api import expect

    mapping = scene.platform.config_dir / "posting.yaml"
    mapping.write_text(
        mapping.read_text().replace("tax_rates:\n", "tax_rates:\n  txr_NL21: {emea: VAT21}\n")
    )
    figures = f"/?day={scene.day}&region=emea"
    page = signed_in(browser, scene, "admin", figures)
    posted_before = posted_invoices_shown(page)
    page.goto(f"{scene.console_url}/transactions/{scene.txn_id}")
    expect(page.locator("#stage")).to_have_text("dead_lettered")
    replay = page.locator("#replay-one")
    replay.get_by_label("What was fixed").fill("txr_NL21 mapped to VAT21 for emea")
    replay.get_by_role("button", name="Replay").click()
    expect(page.locator("#flash")).to_contain_text("replayed 1 by admin-user")
    expect(page.locator("#stage")).to_have_text(re.compile(r"^(posted|reconciled)$"))
    expect(page.locator("#business-reason")).to_have_count(0)
    expect(page.get_by_text("posted after replay")).to_have_count(1)
    lineage = page.locator("#lineage")
    expect(lineage).not_to_contain_text("not yet")
    expect(page.locator("#attempts")).to_contain_text(
        "replay by admin-user: txr_NL21 mapped to VAT21 for emea"
    )
    shot(page, "transaction-admin-replayed")
    posted = {d.externalDocumentNumber for d in erp_documents(scene.platform, "invoices", "emea")}
    assert scene.invoice_id in posted
    page.goto(scene.console_url + figures)
    assert posted_invoices_shown(page) == posted_before + 1
    shot(page, "figures-admin")
    for name, path in (
        ("transactions", "/transactions?kind=invoice&region=emea"),
        ("exceptions-admin", "/exceptions"),
        ("approvals", "/approvals"),
    ):
        page.goto(scene.console_url + path)
        shot(page, name)
    assert {p.stem for p in SCREENSHOTS.glob("*.png")} >= {
        "exceptions-finance",
        "transaction-finance",
        "transaction-engineer",
        "figures-admin",
        "transaction-admin-replayed",
        "transactions",
        "approvals",
    }
