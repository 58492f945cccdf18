"""Console accounts: people who sign in with a password, programs that send a bearer token.

Both live in one YAML file (``config/console_users.yaml`` or ``$SYNC_CONSOLE_USERS``)::

    users:
      - {name: fiona, role: finance, password_hash: "$argon2id$v=19$..."}
    tokens:
      - {name: nightly-report, role: engineer, token_sha256: "9f86d0..."}

Passwords are argon2id hashes (``argon2-cffi``); tokens are 256 random bits, so a SHA-256
digest of one is as hard to reverse as the token is to guess, and is cheap to check on every
request. ``sync-platform console add-user`` writes either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync_platform.config_files import load_config

Role = Literal["finance", "engineer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "spc_"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$"


class UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$")


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[UserEntry] = []
    tokens: list[TokenEntry] = []

    @model_validator(mode="after")
    def _names_unique(self) -> AccountsFile:
        for entries in (self.users, self.tokens):
            names = [entry.name for entry in entries]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"names must be unique; repeated: {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person signed in (``via="session"``) or a token holder."""

    name: str
    role: Role
    via: Literal["session", "token"]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Accounts:
    """The accounts of one file, checked without telling which names exist."""

    def __init__(self, entries: AccountsFile, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._users = {u.name: u for u in entries.users}
        self._tokens = list(entries.tokens)
        # Verified when the name is unknown, so a wrong name costs what a wrong password does.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def load(cls, path: Path) -> Accounts:
        """No file means no accounts (the sign-in page says how to add one)."""
        if not path.exists():
            return cls(AccountsFile())
        return cls(load_config(path, AccountsFile))

    @property
    def empty(self) -> bool:
        return not self._users and not self._tokens

    def sign_in(self, name: str, password: str) -> Principal | None:
        user = self._users.get(name)
        try:
            self._hasher.verify(user.password_hash if user else self._decoy, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        return Principal(user.name, user.role, "session")

    def fingerprint(self, name: str) -> str | None:
        """What a session of ``name`` keeps to notice later that the account changed."""
        user = self._users.get(name)
        return _fingerprint(user) if user else None

    def signed_in(self, name: str, fingerprint: str) -> Principal | None:
        """The account behind a session, if it is as it was at sign-in: removed from the
        file, given another role or another password since, it is None."""
        user = self._users.get(name)
        if user is None or not hmac.compare_digest(
            _fingerprint(user).encode(), fingerprint.encode("utf-8", "surrogatepass")
        ):
            return None
        return Principal(user.name, user.role, "session")

    def bearer(self, token: str) -> Principal | None:
        digest = token_digest(token)
        for entry in self._tokens:
            if hmac.compare_digest(entry.token_sha256, digest):
                return Principal(entry.name, entry.role, "token")
        return None


def _fingerprint(user: UserEntry) -> str:
    """A digest of the role and the password hash, whose salt is new with every password.
    The session cookie is signed, not encrypted, so its holder can read this: a digest of a
    salted argon2 hash tells nothing about the password."""
    return hashlib.sha256(f"{user.role}\n{user.password_hash}".encode()).hexdigest()


class WatchedAccounts:
    """The accounts of a file, read again whenever the file changes, so a removed account
    or a revoked token stops working without a restart. A file that no longer loads fails
    every request (closed), never falls back to what it held before."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._accounts = Accounts.load(path)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self._path.stat()
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def __call__(self) -> Accounts:
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._accounts = Accounts.load(self._path)
                    self._stamp = stamp
        return self._accounts


def add_account(
    path: Path,
    name: str,
    role: Role,
    *,
    password: str | None = None,
    token: str | None = None,
    hasher: PasswordHasher | None = None,
) -> None:
    """Add (or replace, by name) a user with ``password`` or a token holder with ``token``,
    keeping the file's other accounts; only hashes are written."""
    entries = load_config(path, AccountsFile) if path.exists() else AccountsFile()
    if password is not None:
        user = UserEntry(
            name=name, role=role, password_hash=(hasher or PasswordHasher()).hash(password)
        )
        entries.users = [u for u in entries.users if u.name != name] + [user]
    if token is not None:
        entry = TokenEntry(name=name, role=role, token_sha256=token_digest(token))
        entries.tokens = [t for t in entries.tokens if t.name != name] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(entries.model_dump(mode="json"), sort_keys=False)
    path.write_text("# sync-platform console accounts (hashes only)\n" + text, encoding="utf-8")
