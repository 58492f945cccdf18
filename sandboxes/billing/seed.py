"""The billing history the sandbox starts with, built from the shared deterministic world.

Seeding runs once per state directory (store meta ``seeded`` unset): catalogue (one product
per plan, one price per plan and currency, CHF included), the world's tax rates, one customer
per company known to billing, its subscription and the world's invoices with lines and taxes,
payments for paid invoices (balance transactions more than two days old are available, newer
ones pending), a partial refund plus credit note for the refunded ones, and a daily automatic
payout per currency sweeping the funds that became available that day.

The seed emits **no events** and sends no webhooks: it is the history that happened before the
integration was switched on, so ``/v1/events`` starts empty, as it would for a new endpoint.

Rows of each kind are inserted in ``created`` order with ``insert_many``, so the store's ``seq``
order equals ``created`` order and lists can page by ``seq``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sandboxes.billing import credit_notes, invoicing, payments
from sandboxes.billing.invoicing import MONTH_SECONDS, TERMS_DAYS, TIMES, div_half_up
from sandboxes.billing.objects import Doc, Ids, address, customer, price, product, tax_id, tax_rate
from sandboxes.kit.store import SandboxStore
from sandboxes.kit.world import PLANS, TAX_RATES, Company, Invoice, build_world

HOUR, DAY = 3_600, 86_400
SEED_CURRENCIES = ("usd", "eur", "gbp", "aud", "chf")
LOCALES = {"US": "en-US", "DE": "de-DE", "FR": "fr-FR", "NL": "nl-NL", "GB": "en-GB", "AU": "en-AU"}
REFUND_PERCENT = 25  # a refunded invoice gets a quarter of its total back


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def midnight(day: date) -> int:
    return ts(datetime(day.year, day.month, day.day, tzinfo=UTC))


@dataclass
class SeedRows:
    """Documents per kind, collected in memory and inserted in bulk at the end."""

    by_kind: dict[str, list[Doc]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, doc: Doc) -> Doc:
        self.by_kind[kind].append(doc)
        return doc

    def insert(self, store: SandboxStore) -> None:
        for kind, docs in self.by_kind.items():
            docs.sort(key=lambda d: d["created"])
            store.insert_many(kind, ((d["id"], d) for d in docs))


class Seeder:
    def __init__(self, seed: int, anchor: date) -> None:
        self.ids = Ids(seed)
        self.rows = SeedRows()
        self.end = midnight(anchor)  # the seeded history ends at the anchor's midnight
        self.catalogue_created = self.end - 92 * DAY
        self.prices: dict[tuple[str, str], Doc] = {}
        self.tax_rates: dict[str, Doc] = {}

    # -- catalogue --------------------------------------------------------------------------
    def catalogue(self) -> None:
        at = self.catalogue_created
        for plan, name, unit in PLANS:
            prod = self.rows.add("product", product(self.ids.new("prod", 14), at, name))
            for currency in SEED_CURRENCIES:
                doc = price(
                    self.ids.new("price"),
                    at,
                    prod["id"],
                    currency,
                    unit,
                    lookup_key=f"{plan}_{currency}",
                    nickname=name,
                )
                self.prices[(plan, currency)] = self.rows.add("price", doc)
            prod["default_price"] = self.prices[(plan, "usd")]["id"]
        for rate in TAX_RATES:
            doc = tax_rate(
                rate.billing_id,
                at,
                display_name=rate.display_name,
                percentage_bp=rate.percentage_bp,
                country=rate.country,
                state=rate.state,
                jurisdiction=rate.jurisdiction,
                description=f"{rate.display_name} {rate.jurisdiction}",
            )
            self.tax_rates[rate.code] = self.rows.add("tax_rate", doc)

    # -- one company ------------------------------------------------------------------------
    def company(self, company: Company) -> None:
        cust = self.rows.add("customer", self.customer(company))
        if not company.invoices:
            return
        sub = self.subscription(company, cust)
        docs = [self.invoice(company, cust, sub, inv) for inv in company.invoices]
        latest = max(docs, key=lambda d: d["created"])
        sub["latest_invoice"] = latest["id"]
        if latest["status"] == "uncollectible":
            sub["status"] = "unpaid"

    def customer(self, company: Company) -> Doc:
        created = ts(company.created)
        metadata = {"account_key": company.key, "region": company.region}
        if company.billing_links_crm:
            metadata["hubspot_company_id"] = company.crm_company_id
        if company.billing_links_erp:
            metadata["erp_customer_number"] = company.erp_customer_number
        cust_id = company.billing_customer_id
        tax_ids = []
        if company.tax_id:
            tax_ids.append(
                tax_id(
                    self.ids.new("txi"),
                    created,
                    cust_id,
                    company.tax_id_type,
                    company.tax_id,
                    company.tax_id_valid,
                )
            )
        billing_contact = company.contacts[0]
        return customer(
            cust_id,
            created,
            name=company.name,
            email=company.email,
            phone=billing_contact.phone,
            description=company.legal_name,
            address_=address(
                line1=company.line1,
                city=company.city,
                state=company.state,
                postal_code=company.postal_code,
                country=company.country,
            ),
            currency=company.currency.lower(),
            metadata=metadata,
            preferred_locales=[LOCALES[company.country]],
            tax_ids=tax_ids,
        )

    def subscription(self, company: Company, cust: Doc) -> Doc:
        first, last = company.invoices[0], company.invoices[-1]
        created = ts(first.created)
        sub_id = self.ids.new("sub")
        plan_price = self.prices[(first.plan, cust["currency"])]
        period = (ts(last.created), ts(last.created) + MONTH_SECONDS)
        item = invoicing.subscription_item(
            self.ids.new("si", 14), created, sub_id, plan_price, first.quantity, period
        )
        item["tax_rates"] = [self.tax_rates[company.tax_rate.code]]
        terms = company.payment_terms
        sub = invoicing.subscription(
            sub_id,
            created,
            cust["id"],
            cust["currency"],
            [item],
            collection_method="charge_automatically" if terms == "DUE" else "send_invoice",
            days_until_due=TERMS_DAYS.get(terms),
        )
        return self.rows.add("subscription", sub)

    def invoice(self, company: Company, cust: Doc, sub: Doc, source: Invoice) -> Doc:
        created = ts(source.created)
        currency = source.currency.lower()
        inv = invoicing.invoice(
            self.ids.new("in"),
            created,
            cust,
            currency,
            billing_reason="subscription_create" if source.index == 0 else "subscription_cycle",
            collection_method=sub["collection_method"],
            days_until_due=sub["days_until_due"],
            subscription_id=sub["id"],
            period=(created, created) if source.index == 0 else (created - MONTH_SECONDS, created),
        )
        plan_price = self.prices[(source.plan, currency)]
        line = invoicing.line_item(
            self.ids.new("il"),
            inv,
            description=f"{source.quantity} {TIMES} {source.description}",
            unit_amount=source.unit_amount,
            quantity=source.quantity,
            period=(created, created + MONTH_SECONDS),
            tax_rates=[self.tax_rates[source.tax_rate.code]],
            price_doc=plan_price,
            subscription_item_id=sub["items"]["data"][0]["id"],
        )
        invoicing.add_line(inv, line)
        assert inv["total"] == source.total, "seeded invoice disagrees with the world"
        if source.status != "draft":
            self.settle(inv, cust, source)
        return self.rows.add("invoice", inv)

    def settle(self, inv: Doc, cust: Doc, source: Invoice) -> None:
        finalized = inv["created"] + HOUR
        invoicing.finalize(inv, cust, finalized)
        latest = self.end - HOUR
        if source.status == "paid":
            immediate = inv["collection_method"] == "charge_automatically"
            delay = 0 if immediate else (1 + source.index % 6) * DAY
            paid = self.pay(inv, cust, min(finalized + delay, latest))
            if source.refunded:
                self.refund(inv, paid, min(inv["status_transitions"]["paid_at"] + 3 * DAY, latest))
        elif source.status == "void":
            inv["status"] = "void"
            inv["status_transitions"]["voided_at"] = min(finalized + 5 * DAY, latest)
        elif source.status == "uncollectible":
            inv["status"] = "uncollectible"
            inv["status_transitions"]["marked_uncollectible_at"] = min(finalized + 30 * DAY, latest)

    def pay(self, inv: Doc, cust: Doc, at: int) -> payments.InvoicePayment:
        paid = payments.pay_invoice(inv, cust, self.ids, at)
        self.rows.add("payment_intent", paid.intent)
        self.rows.add("charge", paid.charge)
        self.rows.add("balance_transaction", paid.balance_transaction)
        self.rows.add("invoice_payment", paid.invoice_payment)
        return paid

    def refund(self, inv: Doc, paid: payments.InvoicePayment, at: int) -> None:
        amount = div_half_up(inv["total"] * REFUND_PERCENT, 100)
        refund, txn = payments.refund_charge(
            paid.charge, amount, self.ids, at, reason="requested_by_customer"
        )
        self.rows.add("refund", refund)
        self.rows.add("balance_transaction", txn)
        lines = credit_notes.lines_for_amount(inv, amount, self.ids)
        note = credit_notes.credit_note(
            self.ids.new("cn"), at, inv, lines, reason="order_change", memo="Partial refund"
        )
        credit_notes.apply(inv, note, at)
        credit_notes.settle(note, [(refund["id"], amount)], None)
        self.rows.add("credit_note", note)

    # -- payouts ----------------------------------------------------------------------------
    def payouts(self) -> None:
        """One automatic payout per day and currency, the day after the funds became available."""
        groups: dict[tuple[int, str], list[Doc]] = defaultdict(list)
        for txn in self.rows.by_kind["balance_transaction"]:
            day = txn["available_on"] - txn["available_on"] % DAY
            if day + DAY <= self.end:
                groups[(day, txn["currency"])].append(txn)
        # A day whose refunds outweigh its charges pays nothing out; its transactions wait
        # for the next payout of that currency, as Stripe nets them.
        waiting: dict[str, list[Doc]] = defaultdict(list)
        for (day, currency), txns in sorted(groups.items()):
            waiting[currency].extend(txns)
            amount = sum(t["net"] for t in waiting[currency])
            if amount <= 0:
                continue
            payout, txn = payments.make_payout(
                self.ids, day + DAY, amount, currency, automatic=True
            )
            for swept in waiting.pop(currency):
                swept["_payout"] = payout["id"]
            self.rows.add("payout", payout)
            self.rows.add("balance_transaction", txn)


def seed(store: SandboxStore, seed_value: int, customers: int, anchor: date) -> dict[str, int]:
    """Build and insert the seeded history; returns the number of rows per kind."""
    world = build_world(seed_value, customers, anchor)
    seeder = Seeder(seed_value, world.anchor)
    seeder.catalogue()
    for company in world.companies:
        if company.in_billing:
            seeder.company(company)
    seeder.payouts()
    seeder.rows.insert(store)
    return {kind: len(docs) for kind, docs in seeder.rows.by_kind.items()}
