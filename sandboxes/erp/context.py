"""Per-request access to one company's records in the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandboxes.erp.entities import store_kind
from sandboxes.erp.errors import ODataError
from sandboxes.erp.filters import column
from sandboxes.erp.wire import Clock
from sandboxes.kit.store import SandboxStore

# Expression indexes for the lookups and filters clients make most (number, watermark, the
# search-before-create by external document number, posted entries by document number) and
# for a document's lines, read on every line write and on posting.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS erp_number ON objects (kind, json_extract(data, '$.number'))",
    "CREATE INDEX IF NOT EXISTS erp_modified "
    "ON objects (kind, json_extract(data, '$.lastModifiedDateTime'))",
    "CREATE INDEX IF NOT EXISTS erp_external "
    "ON objects (kind, json_extract(data, '$.externalDocumentNumber'))",
    "CREATE INDEX IF NOT EXISTS erp_document "
    "ON objects (kind, json_extract(data, '$.documentNumber'))",
    "CREATE INDEX IF NOT EXISTS erp_lines ON objects (kind, json_extract(data, '$.documentId'))",
)


def business_error(message: str) -> ODataError:
    """An AL ``Error()`` surfacing through the API, as Business Central reports it."""
    return ODataError(400, "Application_DialogException", message)


@dataclass
class Ctx:
    store: SandboxStore
    clock: Clock
    company: dict[str, Any]

    @property
    def company_id(self) -> str:
        return str(self.company["id"])

    def kind(self, type_name: str) -> str:
        return store_kind(type_name, self.company_id)

    def today(self) -> date:
        return datetime.now(UTC).date()

    def get(self, type_name: str, doc_id: str) -> dict[str, Any] | None:
        return self.store.get(self.kind(type_name), doc_id.lower())

    def find_all(self, type_name: str, field: str, value: Any) -> list[dict[str, Any]]:
        sql = f"SELECT data FROM objects WHERE kind = ? AND {column(field)} = ? ORDER BY seq"
        with self.store.lock:
            rows = self.store.connection.execute(sql, (self.kind(type_name), value)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def find(self, type_name: str, field: str, value: Any) -> dict[str, Any] | None:
        found = self.find_all(type_name, field, value)
        return found[0] if found else None

    def save(self, type_name: str, doc: dict[str, Any], *, new: bool = False) -> None:
        """Store a write: the version (etag) and lastModifiedDateTime change every time."""
        doc["_v"] = int(doc.get("_v", 0)) + 1
        if "lastModifiedDateTime" in doc:
            doc["lastModifiedDateTime"] = self.clock.now()
        if new:
            self.store.insert(self.kind(type_name), doc["id"], doc)
        else:
            self.store.put(self.kind(type_name), doc["id"], doc)

    def put_quietly(self, type_name: str, doc: dict[str, Any]) -> None:
        """Store a computed value (a FlowField such as balanceDue) without a new version."""
        self.store.put(self.kind(type_name), doc["id"], doc)

    def delete(self, type_name: str, doc_id: str) -> None:
        self.store.delete(self.kind(type_name), doc_id)

    def next_number(self, series: str) -> int:
        return self.store.next_counter(f"{self.company_id}:{series}")
