"""Which 'Payment' G/L entries reconciliation/daily takes for money received."""

from __future__ import annotations

from decimal import Decimal

from resources.erp import ErpGeneralLedgerEntry
from sync_platform.reconciliation.daily import is_receipt


def entry(document: str, account: str, debit: int, credit: int = 0) -> ErpGeneralLedgerEntry:
    return ErpGeneralLedgerEntry.model_validate(
        {
            "id": f"{document}-{account}",
            "entryNumber": 1,
            "documentNumber": document,
            "documentType": "Payment",
            "accountNumber": account,
            "debitAmount": Decimal(debit) / 100,  # as on the wire
            "creditAmount": Decimal(credit) / 100,
        }
    )


OURS = entry("CH_1", "10100", 5_000)
HAND_BOOKED = entry("HAND-1", "10100", 7_500)
VENDOR_PAID = entry("VPAY-1", "20100", 12_000)
RECEIVABLES_SIDE = entry("CH_1", "13100", 0, 5_000)


def test_with_the_receipts_account_known_every_debit_of_it_counts_and_nothing_else() -> None:
    taken = [
        e
        for e in (OURS, HAND_BOOKED, VENDOR_PAID, RECEIVABLES_SIDE)
        if is_receipt(e, "10100", set())
    ]
    assert taken == [OURS, HAND_BOOKED]


def test_with_it_unknown_or_blank_only_our_own_receipts_can_be_told_apart() -> None:
    for unknown in (None, ""):
        taken = [
            e
            for e in (OURS, HAND_BOOKED, VENDOR_PAID, RECEIVABLES_SIDE)
            if is_receipt(e, unknown, {"CH_1"})
        ]
        assert taken == [OURS]
