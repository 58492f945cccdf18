"""The canonical vocabulary of financial transactions, as we keep and post them.

Amounts are integer minor units in the document's ``currency``. A document is identified by
its billing id (``source_id``); ``source_version`` is a digest of what matters for posting,
so a status change that does not alter the posting (open → paid) does not change it.
``business_date`` is the UTC day the document belongs to: its partition and posting date.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sync_platform.customers.model import UtcDatetime
from sync_platform.hashing import content_hash
from sync_platform.money import CurrencyCode

TransactionKind = Literal["invoice", "payment", "credit_note"]
TRANSACTION_KINDS: tuple[TransactionKind, ...] = ("invoice", "payment", "credit_note")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentLine(_Frozen):
    """One line of an invoice or credit note; ``amount`` excludes tax."""

    line_id: str
    description: str
    product_id: str | None = None
    price_id: str | None = None
    quantity: int = Field(ge=0)
    unit_amount: int
    amount: int
    tax_amount: int = 0
    tax_rate_id: str | None = None  # billing tax rate (``txr_...``); None: untaxed


class _Transaction(_Frozen):
    source_system: Literal["billing"] = "billing"
    source_id: str
    region: str
    billing_customer_id: str
    currency: CurrencyCode
    business_date: date
    occurred_at: UtcDatetime
    correlation_id: str = ""

    @property
    def txn_id(self) -> str:
        return f"{self.source_system}:{self.kind}:{self.source_id}"

    @property
    def kind(self) -> TransactionKind:
        raise NotImplementedError

    @property
    def source_version(self) -> str:
        """Digest of the posting-relevant content (never of ``correlation_id``)."""
        content = self.model_dump(mode="json", exclude=self._unversioned())
        return content_hash({**content, **self._version_extra()})[:32]

    def _unversioned(self) -> set[str]:
        return {"correlation_id"}

    def _version_extra(self) -> dict[str, object]:
        return {}


class CanonicalInvoice(_Transaction):
    """A finalized billing invoice (drafts are not canonical: they may still change)."""

    number: str | None = None
    status: Literal["open", "paid", "void", "uncollectible"]
    due_date: date | None = None
    lines: tuple[DocumentLine, ...]
    subtotal: int
    tax: int
    total: int

    @property
    def kind(self) -> TransactionKind:
        return "invoice"

    def _unversioned(self) -> set[str]:
        # Open, paid or uncollectible, an invoice posts the same: a payment is not a new
        # version. Voiding is: a void invoice must not be posted.
        return {"correlation_id", "status"}

    def _version_extra(self) -> dict[str, object]:
        return {"void": self.status == "void"}


class CanonicalPayment(_Transaction):
    """Money received against an invoice; only a settled payment is applied in the ERP."""

    invoice_id: str | None  # billing invoice the payment pays, if any
    amount: int = Field(gt=0)
    settled: bool  # the balance transaction is available
    balance_transaction_id: str | None = None
    fee: int = 0

    @property
    def kind(self) -> TransactionKind:
        return "payment"


class CanonicalCreditNote(_Transaction):
    """A credit note (with the refunds it paid out), reversing part of an invoice."""

    number: str
    invoice_id: str
    status: Literal["issued", "void"]
    reason: str | None = None
    lines: tuple[DocumentLine, ...]
    subtotal: int
    total: int
    refund_ids: tuple[str, ...] = ()
    refunded_amount: int = 0

    @property
    def kind(self) -> TransactionKind:
        return "credit_note"


CanonicalTransaction = CanonicalInvoice | CanonicalPayment | CanonicalCreditNote
