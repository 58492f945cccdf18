"""One content hash for the whole platform: snapshots, ledger payloads, review subjects."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(document: Any) -> str:
    """sha256 of the canonical JSON form, so key order and spacing never count as a change."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
