"""``sync-platform``: run the sandboxes, the whole platform, and (later) operate it."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sync_platform import launcher
from sync_platform.console.cli import add_console_parser, console_command
from sync_platform.settings import REGIONS


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated world")
    parser.add_argument(
        "--customers", type=_positive_int, default=200, help="companies in the seeded world"
    )
    parser.add_argument(
        "--faults",
        default="",
        help="e.g. rate_limit=0.2,server_error=0.2,latency_ms=50,webhook_drop=0.1,"
        "webhook_duplicate=0.1,webhook_reorder=0.1 (changeable at run time: PUT /_sandbox/faults)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1-65535")
    return value


def _day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", default=None, help="store URL (default: $SYNC_STORE_URL or the local file)"
    )


def _add_day_range(parser: argparse.ArgumentParser, *, required: bool, what: str) -> None:
    parser.add_argument(
        "--from", dest="start", type=_day, required=required, help=f"first {what}, YYYY-MM-DD"
    )
    parser.add_argument(
        "--to", dest="end", type=_day, required=required, help=f"last {what}, YYYY-MM-DD"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sync-platform",
        description="Keeps CRM, billing and ERP consistent, as a Dagster code location.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="start the three sandboxes and the Dagster UI (Ctrl-C stops everything)"
    )
    up.add_argument(
        "--home",
        type=Path,
        default=Path(".sync-platform"),
        help="where sandbox state and the Dagster instance live (kept across starts)",
    )
    up.add_argument("--dagster-port", type=_port, default=3000, help="Dagster UI port")
    up.add_argument(
        "--gateway-port", type=_port, default=launcher.GATEWAY_PORT, help="webhook gateway port"
    )
    _add_port_options(up)
    _add_sandbox_options(up)

    approvals = commands.add_parser(
        "approvals", help="the approval checkpoint: changes held for finance, ambiguous matches"
    )
    _add_store_option(approvals)
    approval_commands = approvals.add_subparsers(dest="approvals_command", required=True)
    listing = approval_commands.add_parser("list", help="reviews, pending first")
    listing.add_argument(
        "--status",
        choices=("pending", "approved", "rejected", "applied", "superseded"),
        default=None,
    )
    listing.add_argument("--region", default=None)
    for verb in ("approve", "reject"):
        decide = approval_commands.add_parser(verb, help=f"{verb} one pending review")
        decide.add_argument("id", type=_positive_int, help="review id (from `approvals list`)")
        decide.add_argument("--by", required=True, help="who decides (recorded)")
        decide.add_argument("--reason", required=True, help="why (recorded)")

    replay = commands.add_parser(
        "replay",
        help="re-drive the transactions of open exceptions once their cause is fixed",
    )
    replay.add_argument(
        "--reason", default=None, help="only this reason code, e.g. tax_code_unmapped"
    )
    replay.add_argument("--region", choices=REGIONS, default=None)
    replay.add_argument(
        "--since", type=_day, default=None, help="only exceptions opened on or after YYYY-MM-DD"
    )
    replay.add_argument("--by", default=None, help="who replays (recorded; default: your login)")
    replay.add_argument("--note", required=True, help="what was fixed (recorded on each attempt)")
    replay.add_argument(
        "--dry-run", action="store_true", help="list the exceptions that would be replayed"
    )
    _add_store_option(replay)

    audit = commands.add_parser("audit", help="the tamper-evident audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check the hash chain, its guard triggers and that every posting has its "
        "record; exit 1 naming the first edited or deleted record",
    )
    _add_store_option(verify)

    legacy = commands.add_parser(
        "legacy-reconcile",
        help="compare the legacy ERP interface's CSV export with the new postings "
        "(exit 1 when they differ; layout in the README)",
    )
    legacy.add_argument("--csv", type=Path, required=True, help="the legacy export (CSV)")
    legacy.add_argument("--region", choices=REGIONS, default=None, help="only this region")
    _add_day_range(legacy, required=False, what="posting date")
    legacy.add_argument(
        "--show", type=_positive_int, default=50, help="differences listed (all are counted)"
    )
    _add_store_option(legacy)

    backfill = commands.add_parser(
        "backfill",
        help="submit a Dagster asset backfill of one region over a date range to the instance "
        "in $DAGSTER_HOME (the daemon runs it; the UI lists it under Runs > Backfills)",
    )
    backfill.add_argument("--region", required=True, help=f"one of {', '.join(REGIONS)}")
    _add_day_range(backfill, required=True, what="day")
    backfill.add_argument(
        "--assets",
        choices=("transactions", "reconciliation", "all"),
        default="all",
        help="transactions: billing/canonical/erp invoices, payments, credit notes; "
        "reconciliation: reconciliation/daily; all: both (default)",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="print the partitions and assets, submit nothing"
    )

    gateway = commands.add_parser(
        "gateway",
        help="receive billing and CRM webhooks into the store's inbox "
        "(secrets from $SYNC_BILLING_WEBHOOK_SECRETS and $SYNC_CRM_APP_SECRET)",
    )
    gateway.add_argument("--host", default=None, help="default: $SYNC_GATEWAY_HOST or 127.0.0.1")
    gateway.add_argument(
        "--port", type=_port, default=None, help="default: $SYNC_GATEWAY_PORT or 12110"
    )

    add_console_parser(commands)

    sandbox = commands.add_parser("sandbox", help="vendor sandboxes (Stripe, HubSpot, BC shapes)")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    run = sandbox_commands.add_parser("run", help="run one sandbox in the foreground")
    run.add_argument("kind", choices=launcher.SANDBOX_KINDS)
    run.add_argument("--port", type=_port, required=True)
    run.add_argument("--state", type=Path, required=True, help="directory of its SQLite file")
    run.add_argument("--webhook-url", default=None, help="register this URL for webhooks")
    _add_sandbox_options(run)
    all_up = sandbox_commands.add_parser("up", help="run all three sandboxes")
    all_up.add_argument("--state", type=Path, default=Path(".sync-platform/sandboxes"))
    for kind in ("billing", "crm"):
        all_up.add_argument(
            f"--{kind}-webhook-url", default=None, help=f"register this URL for {kind} webhooks"
        )
    _add_port_options(all_up)
    _add_sandbox_options(all_up)
    return parser


def _add_port_options(parser: argparse.ArgumentParser) -> None:
    for kind, port in launcher.DEFAULT_PORTS.items():
        parser.add_argument(f"--{kind}-port", type=_port, default=port, help=f"{kind} sandbox port")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            return launcher.up(args)
        if args.command == "approvals":
            return approvals_command(args)
        if args.command == "replay":
            return replay_command(args)
        if args.command == "audit":
            return audit_verify_command(args)
        if args.command == "legacy-reconcile":
            return legacy_reconcile_command(args)
        if args.command == "backfill":
            return backfill_command(args)
        if args.command == "gateway":
            return launcher.run_gateway(args)
        if args.command == "console":
            return console_command(args)
        if args.sandbox_command == "run":
            return launcher.run_one(args)
        return launcher.run_all(args)
    except launcher.LaunchError as exc:
        print(f"sync-platform: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def approvals_command(args: argparse.Namespace) -> int:
    from sync_platform.store import ReviewError, ReviewNotFound, Store

    store = Store.open(args.store) if args.store else Store.from_env()
    try:
        if args.approvals_command == "list":
            reviews = store.reviews(status=args.status, region=args.region)
            order = {"pending": 0, "approved": 1}
            for r in sorted(reviews, key=lambda r: (order.get(r.status, 2), r.id)):
                decided = f"  by {r.decided_by}: {r.reason}" if r.decided_by else ""
                print(
                    f"{r.id:>5}  {r.status:<10} {r.region:<5} {r.kind:<13} {r.subject}\n"
                    f"       {r.summary}{decided}"
                )
            if not reviews:
                print("no reviews")
            return 0
        try:
            review = store.decide(
                args.id, args.approvals_command == "approve", args.by, args.reason
            )
        except (ReviewError, ReviewNotFound) as exc:
            print(f"sync-platform: {exc}", file=sys.stderr)
            return 2
        print(f"review {review.id} {review.status} by {review.decided_by}: {review.reason}")
        return 0
    finally:
        store.close()


ERP_SETTINGS = ("SYNC_ERP_URL", "SYNC_ERP_ACCESS_TOKEN")


def replay_command(args: argparse.Namespace) -> int:
    from resources import api_metrics
    from sync_platform.store import Store
    from sync_platform.transactions.flow import ReplaySelection, replay_candidates

    selection = ReplaySelection(reason=args.reason, region=args.region, since=args.since)
    store = Store.open(args.store) if args.store else Store.from_env()
    try:
        groups = replay_candidates(store, selection)
        count = sum(len(ids) for ids in groups.values())
        for (kind, region), ids in sorted(groups.items()):
            print(f"{kind:<12} {region:<5} {len(ids)} to replay")
        if args.dry_run or count == 0:
            print(f"{count} transactions match" + ("" if count else "; nothing to replay"))
            return 0
        missing = [name for name in ERP_SETTINGS if not os.environ.get(name)]
        if missing:
            print(f"sync-platform: set {' and '.join(missing)} to reach the ERP", file=sys.stderr)
            return 2
        from resources.erp import ErpResource
        from sync_platform.transactions.erp_gateway import replay_exceptions

        erp = ErpResource(
            base_url=os.environ["SYNC_ERP_URL"], access_token=os.environ["SYNC_ERP_ACCESS_TOKEN"]
        )
        by = args.by or getpass.getuser()
        summary = replay_exceptions(erp, store, selection, note=args.note, by=by)
        for group, result in summary["groups"].items():
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result["mode_outcomes"].items()))
            print(f"{group}: {outcomes}")
        still = summary["still_open"]
        print(
            "open exceptions now: "
            + (", ".join(f"{k} {v}" for k, v in sorted(still.items())) or "none")
        )
        return 0
    finally:
        api_metrics.TALLY.flush(store.add_api_stats)  # the ERP calls this replay made
        store.close()


def audit_verify_command(args: argparse.Namespace) -> int:
    """0: the chain is intact; 1: it breaks, a guard trigger is missing or disabled, or a
    posting has no record (each named)."""
    from sync_platform.audit import verify_store
    from sync_platform.store import Store

    store = Store.open(args.store) if args.store else Store.from_env()
    try:
        verdict = verify_store(store)
    finally:
        store.close()
    print(verdict.describe())
    if not verdict.intact:
        return 1
    if verdict.records:
        # Only a copy kept elsewhere shows that the newest records were not cut off.
        print(f"head: record {verdict.head_id} {verdict.head_hash}")
    return 0


def legacy_reconcile_command(args: argparse.Namespace) -> int:
    """0: the legacy export and the new postings agree; 1: they differ or lines were bad;
    2: the file cannot be read at all."""
    from sync_platform.reconciliation.legacy import (
        LegacyFileError,
        compare_legacy,
        in_range,
        new_postings,
        read_legacy_export,
    )
    from sync_platform.store import Store

    start = args.start.date() if args.start else None
    end = args.end.date() if args.end else None
    try:
        export = read_legacy_export(args.csv)
    except LegacyFileError as exc:
        print(f"sync-platform: {exc}", file=sys.stderr)
        return 2
    for bad in export.bad_lines:
        print(f"bad line: {bad}", file=sys.stderr)
    legacy = [p for p in export.postings if in_range(p.posting_date, start, end)]
    store = Store.open(args.store) if args.store else Store.from_env()
    try:
        result = compare_legacy(legacy, new_postings(store, args.region, start, end))
    finally:
        store.close()
    for difference in result.differences[: args.show]:
        print(difference.describe())
    if len(result.differences) > args.show:
        print(f"... and {len(result.differences) - args.show} more")
    issues = ", ".join(f"{k} {v}" for k, v in result.by_issue().items()) or "none"
    print(
        f"legacy postings {result.legacy_count} (bad lines {len(export.bad_lines)}), "
        f"new postings {result.new_count}, matched {result.matched}; differences: {issues}"
    )
    return 1 if result.differences or export.bad_lines else 0


def backfill_command(args: argparse.Namespace) -> int:
    from sync_platform.backfill_cli import BackfillError, run_backfill

    try:
        return run_backfill(
            args.region, args.start.date(), args.end.date(), args.assets, args.dry_run
        )
    except BackfillError as exc:
        print(f"sync-platform backfill: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
