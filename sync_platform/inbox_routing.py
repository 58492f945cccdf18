"""What a webhook event in the inbox affects: which assets and which partition.

Billing (Stripe events), partition = the UTC day and the region of the document's customer:

- ``invoice.*``: the invoice, dated by ``status_transitions.finalized_at`` (a draft affects
  nothing yet; its ``invoice.finalized`` event routes it);
- ``charge.*``, ``payment_intent.succeeded``, ``invoice_payment.*``: the payment (its charge,
  found through the payment intent for the last two), dated by the charge's ``created``;
- ``credit_note.*``: the credit note, dated by its ``created``;
- ``customer.*`` (``customer.subscription.*``, ``customer.tax_id.*`` too): the customer
  workflow of the customer's region.

CRM (HubSpot v3 events): ``company.*`` the customer workflow of the company's region,
``contact.*`` that of the contact's company.

Anything else, or an event whose region or day cannot be told, is ``Unroutable`` with the
reason: the sensor marks it ``ignored`` with that reason, nothing is dropped silently.

The partition comes from the event (these moments never change once set); what is synced
comes from the source's latest state, read by the run, never from the event's payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from sync_platform.customers.region_flow import billing_region

TransactionKind = Literal["invoice", "payment", "credit_note"]
# Runs the landing sensor requests carry the key their inbox events are scheduled under.
INBOX_RUN_TAG = "sync/inbox_run_key"
CORRELATION_TAG = "sync/correlation"


@dataclass(frozen=True)
class ChargeRef:
    """What routing needs of a charge found through its payment intent."""

    charge_id: str
    created: datetime
    customer: str | None


@dataclass(frozen=True)
class TransactionTarget:
    kind: TransactionKind
    object_id: str
    day: date
    region: str


CustomerObject = Literal["billing_customer", "crm_company", "crm_contact"]


@dataclass(frozen=True)
class CustomerTarget:
    """The customer workflow of ``region``; ``object_id`` (of ``object_type``) is what changed,
    None when the event says a customer changed but not which record to read."""

    region: str
    object_type: CustomerObject | None = None
    object_id: str | None = None


@dataclass(frozen=True)
class Unroutable:
    reason: str


Route = TransactionTarget | CustomerTarget | Unroutable


class EventLike(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def object_id(self) -> str | None: ...
    @property
    def payload(self) -> Any: ...


@dataclass(frozen=True)
class Lookups:
    """Adapters the routing asks: each answers None for what it does not know."""

    billing_customer_region: Callable[[str], str | None]
    crm_company_region: Callable[[str], str | None] = lambda _id: None
    crm_contact_region: Callable[[str], str | None] = lambda _id: None
    charge_of_intent: Callable[[str], ChargeRef | None] = lambda _id: None


def route(event: EventLike, lookups: Lookups) -> Route:
    if event.source == "billing":
        return _billing(event.event_type, _subject(event.payload), lookups)
    if event.source == "crm":
        return _crm(event.event_type, str(event.object_id or ""), lookups)
    return Unroutable(f"events from {event.source!r} affect no synced asset")


# -- billing ------------------------------------------------------------------------------------
def _subject(payload: Any) -> dict[str, Any]:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    subject = data.get("object") if isinstance(data, Mapping) else None
    return dict(subject) if isinstance(subject, Mapping) else {}


def _billing(event_type: str, obj: dict[str, Any], lookups: Lookups) -> Route:
    family = event_type.split(".")[0]
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        return Unroutable(f"{event_type} event names no object id")
    if family == "invoice":
        finalized = (obj.get("status_transitions") or {}).get("finalized_at")
        if not isinstance(finalized, int):
            return Unroutable(
                f"invoice {object_id} is a draft: it belongs to the day it is finalized "
                "(its invoice.finalized event routes it)"
            )
        return _transaction("invoice", object_id, finalized, obj.get("customer"), lookups)
    if family == "credit_note":
        created = obj.get("created")
        return _transaction("credit_note", object_id, created, obj.get("customer"), lookups)
    if family == "charge":
        return _transaction("payment", object_id, obj.get("created"), obj.get("customer"), lookups)
    if event_type == "payment_intent.succeeded" or family == "invoice_payment":
        intent = object_id if family == "payment_intent" else _intent_of(obj)
        if intent is None:
            return Unroutable(f"{event_type} {object_id} names no payment intent")
        charge = lookups.charge_of_intent(intent)
        if charge is None:
            return Unroutable(f"payment intent {intent} has no charge that took money")
        return _transaction(
            "payment", charge.charge_id, int(charge.created.timestamp()), charge.customer, lookups
        )
    if family == "customer":
        customer = _customer_of(obj)
        if customer is None:
            return Unroutable(f"{event_type} {object_id} names no billing customer")
        address = obj.get("address") if obj.get("object") == "customer" else None
        country = address.get("country") if isinstance(address, Mapping) else None
        metadata = obj.get("metadata") if obj.get("object") == "customer" else None
        region = (
            billing_region(metadata or {}, country)
            if metadata or country
            else lookups.billing_customer_region(customer)
        )
        if region is None:
            return Unroutable(f"billing customer {customer} has no known region")
        return CustomerTarget(region, "billing_customer", customer)
    return Unroutable(f"{event_type} changes no document or customer the platform syncs")


def _customer_of(obj: Mapping[str, Any]) -> str | None:
    """The billing customer a ``customer.*`` event is about (the customer itself, or the
    customer of its subscription or tax id)."""
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    return customer if isinstance(customer, str) and customer else None


def _intent_of(invoice_payment: Mapping[str, Any]) -> str | None:
    intent = (invoice_payment.get("payment") or {}).get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    return intent if isinstance(intent, str) else None


def _transaction(
    kind: TransactionKind, object_id: str, moment: Any, customer: Any, lookups: Lookups
) -> Route:
    if not isinstance(moment, int):
        return Unroutable(f"{kind.replace('_', ' ')} {object_id} carries no creation time")
    if not isinstance(customer, str) or not customer:
        return Unroutable(f"{kind.replace('_', ' ')} {object_id} names no billing customer")
    region = lookups.billing_customer_region(customer)
    if region is None:
        return Unroutable(
            f"{kind.replace('_', ' ')} {object_id}: billing customer {customer} has no known region"
        )
    day = datetime.fromtimestamp(moment, tz=UTC).date()
    return TransactionTarget(kind, object_id, day, region)


# -- crm ----------------------------------------------------------------------------------------
def _crm(event_type: str, object_id: str, lookups: Lookups) -> Route:
    object_type = event_type.partition(".")[0]
    if not object_id:
        return Unroutable(f"{event_type} event names no object id")
    changed: CustomerObject
    if object_type == "company":
        region = lookups.crm_company_region(object_id)
        what = f"CRM company {object_id} has no known region"
        changed = "crm_company"
    elif object_type == "contact":
        region = lookups.crm_contact_region(object_id)
        what = f"CRM contact {object_id} belongs to no company of a known region"
        changed = "crm_contact"
    else:
        return Unroutable(f"{event_type} changes no CRM object the platform syncs")
    return Unroutable(what) if region is None else CustomerTarget(region, changed, object_id)


# -- planning runs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One run: a date and region partition of transactions, or a region of customers."""

    run_key: str
    region: str
    day: date | None  # None: the customer workflow of ``region``
    kinds: tuple[TransactionKind, ...]
    event_ids: tuple[int, ...]
    first_event_id: str  # the source's id of the first event: the run's correlation

    @property
    def partition(self) -> str:
        return self.region if self.day is None else f"{self.day.isoformat()}|{self.region}"


@dataclass
class InboxPlan:
    runs: list[PlannedRun] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)  # (inbox id, reason)


class PlannedEvent(EventLike, Protocol):
    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def run_key(self) -> str | None: ...


def plan_runs(events: Sequence[PlannedEvent], routes: Sequence[Route]) -> InboxPlan:
    """Group routed events into runs, one per partition set.

    An event scheduled before (a tick evaluated again) stays in the run it was given, so
    that run is requested again under the same key and Dagster launches it once. The rest
    get a key made of the partition and the first and last inbox id of their group: the
    same events always make the same key.
    """
    plan = InboxPlan()
    groups: dict[tuple[str, str], list[tuple[PlannedEvent, TransactionTarget | CustomerTarget]]]
    groups = {}
    for event, routed in zip(events, routes, strict=True):
        if isinstance(routed, Unroutable):
            plan.ignored.append((event.id, routed.reason))
            continue
        target = _partition_of(routed)
        groups.setdefault((event.run_key or "", target), []).append((event, routed))
    for (existing, target), members in sorted(groups.items(), key=lambda g: g[1][0][0].id):
        ids = tuple(e.id for e, _ in members)
        first = members[0][1]
        region = first.region
        day = first.day if isinstance(first, TransactionTarget) else None
        kinds = sorted({r.kind for _, r in members if isinstance(r, TransactionTarget)})
        plan.runs.append(
            PlannedRun(
                run_key=existing or f"inbox:{target}:{ids[0]}-{ids[-1]}",
                region=region,
                day=day,
                kinds=tuple(kinds),
                event_ids=ids,
                first_event_id=members[0][0].event_id,
            )
        )
    return plan


# A run that failed leaves its events pending; they go to a new run after these delays
# (from the failed run's end), then stay pending for the partition's next backfill.
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=8))
RETRY_MARK = "~retry"


def retry_delays(setting: str | None) -> tuple[timedelta, ...]:
    """The retry delays from a setting of comma-separated seconds (``RETRY_DELAYS`` if
    unset)."""
    if not setting:
        return RETRY_DELAYS
    try:
        delays = tuple(timedelta(seconds=float(part)) for part in setting.split(","))
    except ValueError:
        delays = ()
    if not delays or any(d < timedelta(0) for d in delays):
        raise ValueError(
            "SYNC_INBOX_RETRY_DELAYS_SECONDS must be comma-separated seconds of at least 0, "
            f"one per retry (e.g. 30,120,480); got {setting!r}"
        )
    return delays


def retries_of(run_key: str) -> int:
    """How many times the events of ``run_key`` were given to a new run after a failure."""
    _, mark, count = run_key.rpartition(RETRY_MARK)
    return int(count) if mark and count.isdigit() else 0


def exhausted_suffix(delays: Sequence[timedelta] = RETRY_DELAYS) -> str:
    """The end of a run key whose events have used up their retries."""
    return f"{RETRY_MARK}{len(delays)}"


def retry_run_key(
    failed_key: str,
    failed_at: datetime,
    now: datetime,
    delays: Sequence[timedelta] = RETRY_DELAYS,
) -> str | None:
    """The key of the run that takes over the events of the failed run ``failed_key``,
    or None while its delay runs or once the retries are used up."""
    done = retries_of(failed_key)
    if done >= len(delays) or now - failed_at < delays[done]:
        return None
    base = failed_key.rpartition(RETRY_MARK)[0] if done else failed_key
    return f"{base}{RETRY_MARK}{done + 1}"


def _partition_of(target: TransactionTarget | CustomerTarget) -> str:
    if isinstance(target, TransactionTarget):
        return f"{target.day.isoformat()}|{target.region}"
    return f"customers|{target.region}"


def transaction_kind_of(event: EventLike) -> TransactionKind | None:
    """The kind of document a billing event is about, by its type alone (no lookup)."""
    if event.source != "billing":
        return None
    family = event.event_type.split(".")[0]
    if family in ("invoice", "credit_note"):
        return family  # type: ignore[return-value]
    if family in ("charge", "invoice_payment") or event.event_type == "payment_intent.succeeded":
        return "payment"
    return None


def changed_customer_record(event: EventLike) -> tuple[CustomerObject, str] | None:
    """The customer record an event says changed (billing customer, CRM company or contact),
    or None for an event about anything else. Needs no lookup: the event names it."""
    if event.source == "billing":
        if event.event_type.split(".")[0] != "customer":
            return None
        customer = _customer_of(_subject(event.payload))
        return None if customer is None else ("billing_customer", customer)
    if event.source == "crm" and event.object_id:
        object_type = event.event_type.partition(".")[0]
        if object_type == "company":
            return "crm_company", str(event.object_id)
        if object_type == "contact":
            return "crm_contact", str(event.object_id)
    return None


def changed_customer_records(events: Iterable[EventLike], object_type: CustomerObject) -> list[str]:
    """The distinct records of ``object_type`` the events name, in the order first named."""
    seen: dict[str, None] = {}
    for event in events:
        changed = changed_customer_record(event)
        if changed is not None and changed[0] == object_type:
            seen.setdefault(changed[1], None)
    return list(seen)


def objects_of_kind(routes: Iterable[Route], kind: TransactionKind) -> list[str]:
    """The distinct objects of ``kind`` the routes name, in the order first named."""
    seen: dict[str, None] = {}
    for routed in routes:
        if isinstance(routed, TransactionTarget) and routed.kind == kind:
            seen.setdefault(routed.object_id, None)
    return list(seen)
