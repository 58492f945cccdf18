"""The canonical customer vocabulary: one account as each system sees it, and as we keep it.

Values are normalized on the way in (blank strings become None, emails lower-case, codes
upper-case) so that two systems saying the same thing compare equal. Codes pycountry does
not know are kept as given; ``validation`` reports them, nothing here invents a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
)

from sync_platform.customers import geo
from sync_platform.customers.tax import check_tax_number

System = Literal["crm", "billing", "erp"]
SYSTEMS: tuple[System, ...] = ("crm", "billing", "erp")
Status = Literal["active", "inactive", "prospect"]

CANONICAL_ATTRIBUTES: tuple[str, ...] = (
    "legal_name",
    "trading_name",
    "parent_crm_company_id",
    "sales_contacts",
    "billing_contacts",
    "invoice_delivery_email",
    "subscription_state",
    "bill_to",
    "ship_to",
    "tax_registrations",
    "payment_terms",
    "currency",
    "status",
)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
Code = Annotated[str | None, BeforeValidator(_blank_to_none), AfterValidator(_upper)]
Email = Annotated[str | None, BeforeValidator(_blank_to_none), AfterValidator(_lower)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Frozen):
    """A postal address; ``subdivision`` is ISO 3166-2 (``US-CA``), ``country`` alpha-2."""

    line1: Text = None
    line2: Text = None
    city: Text = None
    postal_code: Text = None
    subdivision: Code = None
    country: Code = None


def normalize_address(
    line1: str | None = None,
    line2: str | None = None,
    city: str | None = None,
    postal_code: str | None = None,
    state: str | None = None,
    country: str | None = None,
) -> Address:
    """An Address from a vendor's fields: country names or codes, bare or full state codes."""
    raw_country = _blank_to_none(country)
    raw_state = _blank_to_none(state)
    alpha_2 = geo.country_code(raw_country) if raw_country else None
    subdivision = raw_state
    if raw_state and alpha_2:
        subdivision = geo.subdivision_code(alpha_2, raw_state) or _iso_form(alpha_2, raw_state)
    return Address(
        line1=line1,
        line2=line2,
        city=city,
        postal_code=postal_code,
        subdivision=subdivision,
        country=alpha_2 or raw_country,
    )


def _iso_form(country: str, state: str) -> str:
    # An unknown subdivision keeps its code, in the ISO shape, so validation can name it.
    code = state.upper()
    return code if code.startswith(f"{country}-") else f"{country}-{code}"


class Contact(_Frozen):
    name: Text = None
    email: Email = None
    phone: Text = None


class TaxRegistration(_Frozen):
    """A tax number in its compact form (``DE123456789``); ``valid`` is python-stdnum's verdict."""

    country: str
    scheme: str
    number: str
    valid: bool


def tax_registration(country: str, raw: str) -> TaxRegistration:
    """A registration for ``raw`` filed in ``country`` (a code or a name)."""
    code = geo.country_code(country) or country.strip().upper()
    checked = check_tax_number(code, raw)
    return TaxRegistration(
        country=code, scheme=checked.scheme, number=checked.number, valid=checked.valid
    )


class Lineage(_Frozen):
    """Which record, at which version, supplied an attribute's value."""

    system: System
    record_id: str
    version: str
    observed_at: UtcDatetime


class CanonicalCustomer(_Frozen):
    canonical_id: str
    region: str
    external_ids: dict[System, str] = Field(default_factory=dict)
    legal_name: Text = None
    trading_name: Text = None
    parent_crm_company_id: Text = None
    sales_contacts: list[Contact] = Field(default_factory=list)
    billing_contacts: list[Contact] = Field(default_factory=list)
    invoice_delivery_email: Email = None
    subscription_state: Text = None
    bill_to: Address | None = None
    ship_to: Address | None = None
    tax_registrations: list[TaxRegistration] = Field(default_factory=list)
    payment_terms: Code = None
    currency: Code = None
    status: Status | None = None
    lineage: dict[str, Lineage] = Field(default_factory=dict)


# Source attributes are validated with the canonical field's own type, so a mapping bug
# (a dict where an Address belongs, an unknown status) fails where the record is built.
def _field_type(name: str) -> TypeAdapter[Any]:
    field = CanonicalCustomer.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = cast(Any, Annotated).__class_getitem__((annotation, *field.metadata))
    return TypeAdapter(annotation)


_ATTRIBUTE_TYPES = {name: _field_type(name) for name in CANONICAL_ATTRIBUTES}


class SourceCustomer(_Frozen):
    """One system's record of an account, in the canonical vocabulary.

    ``attributes`` holds only what this system states; an absent key means it says nothing.
    ``links`` are the ids of the same account in other systems as this record states them.
    ``domain`` is the company's web domain (or its email's), used only to match identities.
    """

    system: System
    record_id: str
    region: str
    version: str
    modified_at: UtcDatetime
    links: dict[System, str] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)
    domain: Text = None

    def recency(self) -> tuple[str, str, str]:
        """Sort key: the newest record of an account sorts last.

        The serialized record breaks the last tie, so two different payloads claiming one
        record and version resolve the same way whatever order they arrive in.
        """
        return (self.version, self.record_id, self.model_dump_json())

    @field_validator("attributes")
    @classmethod
    def _typed_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(attributes) - set(CANONICAL_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown canonical attributes {unknown}")
        return {name: _ATTRIBUTE_TYPES[name].validate_python(v) for name, v in attributes.items()}
