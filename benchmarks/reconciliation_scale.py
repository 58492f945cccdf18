"""Reconcile N billed invoices against N ERP postings, for N = 100,000 and 1,000,000: wall time,
peak memory, and the memory ratio 1M / 100k, which must stay near 1 (bounded memory).

Both sides live in an SQLite database, as the integration store would hold them at that
scale: a billing table (one row per invoice) and an ERP table (one row per posted document).
They are generated, with a few injected drifts (an invoice missing in the ERP, one whose
amount was edited, one posted twice, one in another currency, two ERP documents nobody
billed), then read back sorted by key, 50,000 rows at a time, and reconciled a key range at
a time (``sync_platform.reconciliation.compare.reconcile_sorted``). The script checks that
exactly the injected drifts are found. Each size runs in a fresh process, so each peak RSS
(``getrusage``) is its own.

    python benchmarks/reconciliation_scale.py [--sizes 100000 1000000] [--chunk 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from sync_platform.reconciliation.compare import reconcile_sorted

CURRENCIES = ("USD", "EUR", "GBP", "AUD", "JPY")
BATCH = 50_000


def key_of(i: int) -> str:
    return f"IN_{i:09d}"


def injected(n: int) -> dict[str, int]:
    """Where the drifts go: spread over the key range, so they land in different chunks."""
    return {
        "missing_in_erp": n // 7,
        "amount_differs": n // 3,
        "posted_twice": n // 2,
        "currency_differs": 2 * n // 3,
        "not_billed_middle": n // 5,
    }


def expected_drift(n: int) -> set[tuple[str, str]]:
    at = injected(n)
    return {
        ("missing_in_erp", key_of(at["missing_in_erp"])),
        ("amount_differs", key_of(at["amount_differs"])),
        ("posted_twice", key_of(at["posted_twice"])),
        ("currency_differs", key_of(at["currency_differs"])),
        ("not_billed", key_of(at["not_billed_middle"]) + "X"),
        ("not_billed", key_of(n)),
    }


def amount_of(i: int) -> int:
    return 1_000 + (i * 7_919) % 500_000


def billing_rows(n: int) -> Iterator[tuple[str, str, str, str, int]]:
    for i in range(n):
        yield ("invoice", key_of(i), f"in_{i:09d}", CURRENCIES[i % 5], amount_of(i))


def erp_rows(n: int) -> Iterator[tuple[str, str, str, str, int]]:
    at = injected(n)
    for i in range(n):
        key, currency, amount = key_of(i), CURRENCIES[i % 5], amount_of(i)
        if i == at["missing_in_erp"]:
            continue
        if i == at["amount_differs"]:
            amount += 100
        if i == at["currency_differs"]:
            currency = CURRENCIES[(i + 1) % 5]
        yield ("invoice", key, f"PSI-{i}", currency, amount)
        if i == at["posted_twice"]:
            yield ("invoice", key, f"PSI-{i}-again", currency, amount)
        if i == at["not_billed_middle"]:
            yield ("invoice", key + "X", "PSI-typed-in", currency, 4_200)
    yield ("invoice", key_of(n), "PSI-typed-in-2", "USD", 4_200)


def build(path: Path, n: int) -> None:
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE billing (kind TEXT, key TEXT, billing_id TEXT, currency TEXT,
                              amount INTEGER, PRIMARY KEY (kind, key)) WITHOUT ROWID;
        CREATE TABLE erp (kind TEXT, key TEXT, document_number TEXT, currency TEXT,
                          amount INTEGER, PRIMARY KEY (kind, key, document_number)) WITHOUT ROWID;
        """
    )
    db.executemany("INSERT INTO billing VALUES (?, ?, ?, ?, ?)", billing_rows(n))
    db.executemany("INSERT INTO erp VALUES (?, ?, ?, ?, ?)", erp_rows(n))
    db.commit()
    db.close()


def sorted_frames(db: sqlite3.Connection, table: str, chunk: int) -> Iterator[pd.DataFrame]:
    """The table in (kind, key) order (its primary key: no sort), ``chunk`` rows at a time."""
    frames = pd.read_sql_query(f"SELECT * FROM {table} ORDER BY kind, key", db, chunksize=chunk)
    yield from frames


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(n: int, chunk: int) -> dict[str, Any]:
    baseline = peak_rss_mib()  # interpreter + pandas, before any data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reconciliation.sqlite3"
        started = time.perf_counter()
        build(path, n)
        generated = time.perf_counter() - started
        db = sqlite3.connect(path)
        started = time.perf_counter()
        result = reconcile_sorted(
            sorted_frames(db, "billing", chunk), sorted_frames(db, "erp", chunk)
        )
        reconciled = time.perf_counter() - started
        db.close()
    found = sorted([d.issue, d.key] for d in result.drift)
    totals = [t for t in result.totals]
    return {
        "n": n,
        "generate_s": generated,
        "reconcile_s": reconciled,
        "peak_rss_mib": peak_rss_mib(),
        "baseline_rss_mib": baseline,
        "found": found,
        "drift_count": result.drift_count,
        "billing_count": sum(t.billing_count for t in totals),
        "erp_count": sum(t.erp_count for t in totals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=BATCH)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.chunk)))
        return
    results: list[dict[str, Any]] = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--chunk", str(args.chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        found = {(issue, key) for issue, key in result["found"]}
        if found != expected_drift(n) or result["drift_count"] != len(expected_drift(n)):
            raise SystemExit(
                f"{n:,}: found drift {sorted(found)}, expected {sorted(expected_drift(n))}"
            )
        results.append(result)
        print(
            f"{n:>9,} invoices vs {result['erp_count']:>9,} postings: "
            f"reconciled in {result['reconcile_s']:6.1f} s "
            f"({n / result['reconcile_s']:>9,.0f} invoices/s; generating took "
            f"{result['generate_s']:.1f} s), peak RSS {result['peak_rss_mib']:6.0f} MiB "
            f"(pandas loaded: {result['baseline_rss_mib']:.0f} MiB); "
            f"all {len(found)} injected drifts found"
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        above = (large["peak_rss_mib"] - large["baseline_rss_mib"]) / max(
            1.0, small["peak_rss_mib"] - small["baseline_rss_mib"]
        )
        print(
            f"memory {large['n']:,} / {small['n']:,}: peak RSS x{ratio:.2f} "
            f"(above the pandas baseline: x{above:.2f}) for x{large['n'] / small['n']:.0f} "
            "the documents"
        )


if __name__ == "__main__":
    main()
