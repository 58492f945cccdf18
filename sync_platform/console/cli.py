"""``sync-platform console add-user``: add a console account, writing only its hash."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from sync_platform.config_files import ConfigError
from sync_platform.console.accounts import ROLES, add_account, new_token
from sync_platform.console.settings import USERS_VAR
from sync_platform.settings import config_dir

MIN_PASSWORD_CHARS = 12


def add_console_parser(commands: Any) -> None:
    console = commands.add_parser("console", help="operations console accounts")
    console_commands = console.add_subparsers(dest="console_command", required=True)
    add = console_commands.add_parser(
        "add-user",
        help="add or replace a console account (password asked for, or a new API token)",
    )
    add.add_argument("--name", required=True, help="the name to sign in with")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--file",
        type=Path,
        default=None,
        help=f"accounts file (default: ${USERS_VAR} or config/console_users.yaml)",
    )
    how = add.add_mutually_exclusive_group()
    how.add_argument(
        "--token", action="store_true", help="make an API token (printed once) instead"
    )
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def console_command(args: argparse.Namespace) -> int:
    path: Path = args.file or Path(os.environ.get(USERS_VAR) or config_dir() / "console_users.yaml")
    try:
        if args.token:
            token = new_token()
            add_account(path, args.name, args.role, token=token)
            print(f"token for {args.name} ({args.role}), shown once: {token}")
        else:
            password = _password(args.password_stdin)
            if len(password) < MIN_PASSWORD_CHARS:
                print(
                    f"sync-platform: a password needs at least {MIN_PASSWORD_CHARS} characters",
                    file=sys.stderr,
                )
                return 2
            add_account(path, args.name, args.role, password=password)
            print(f"user {args.name} ({args.role}) added")
    except (ConfigError, ValueError) as exc:
        print(f"sync-platform: {exc}", file=sys.stderr)
        return 2
    print(f"accounts file: {path} (argon2id / SHA-256 hashes only)")
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first
