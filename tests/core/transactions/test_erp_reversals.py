"""Which ERP credit memos reverse a posted invoice: posted ones only (a draft, one in review
or one cancelled since reverses nothing), found by the invoice they name."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from resources.erp import ErpResource, ErpSalesCreditMemo
from sync_platform.transactions.erp_gateway import ErpPostingGateway
from sync_platform.transactions.posting import ErpDocState, Reversal


class CreditMemos:
    """The one ERP read ``reversals`` makes, answered from a list."""

    def __init__(self, memos: list[ErpSalesCreditMemo]) -> None:
        self.memos = memos
        self.asked: list[Mapping[str, str]] = []

    def credit_memos_naming(
        self, company_id: str, invoices: Mapping[str, str]
    ) -> dict[str, list[ErpSalesCreditMemo]]:
        self.asked.append(dict(invoices))
        out: dict[str, list[ErpSalesCreditMemo]] = {}
        for memo in self.memos:
            if memo.invoiceId in invoices:
                out.setdefault(memo.invoiceId, []).append(memo)
        return out


def memo(
    number: str, status: str, total: int, invoice: str = "inv-1", currency: str = "USD"
) -> ErpSalesCreditMemo:
    fields: dict[str, Any] = {
        "currencyCode": currency,
        "id": f"id-{number}",
        "number": number,
        "status": status,
        "totalAmountIncludingTax": Decimal(total) / 100,  # as on the wire
        "invoiceId": invoice,
    }
    return ErpSalesCreditMemo.model_validate(fields)


def gateway(memos: list[ErpSalesCreditMemo]) -> tuple[ErpPostingGateway, CreditMemos]:
    erp = CreditMemos(memos)
    return ErpPostingGateway(cast(ErpResource, erp), "company", "SYNCPLAT", "USD"), erp


INVOICE = ErpDocState(id="inv-1", number="103001", posted=True, total=10_000, currency="USD")


def test_only_posted_credit_memos_count_and_their_totals_add_up() -> None:
    found, erp = gateway(
        [
            memo("104001", "Open", 4_000),
            memo("104002", "Corrective", 6_000),
            memo("104003", "Draft", 10_000),
            memo("104004", "In Review", 10_000),
            memo("104005", "Canceled", 10_000),
            memo("104006", "Paid", 500, invoice="inv-2"),
            memo("104007", "Open", 10_000, currency="EUR"),  # not the invoice's money
        ]
    )

    assert found.reversals([INVOICE]) == {"inv-1": Reversal(("104001", "104002"), 10_000)}
    assert erp.asked == [{"inv-1": "103001"}]


def test_no_invoice_asks_nothing_and_an_unreversed_one_is_left_out() -> None:
    found, erp = gateway([memo("104003", "Draft", 10_000)])

    assert found.reversals([]) == {}
    assert erp.asked == []
    assert found.reversals([INVOICE]) == {}
