"""What to do with a change to a customer, as ``config/customer_change_policy.yaml`` says.

Once a customer has a posted invoice, some changes would rewrite history in the ERP (the
address an invoice went to, the account it rolls up to); the policy routes those to a
safer action or to finance instead of applying them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from sync_platform.config_files import load_config
from sync_platform.customers.compare import has_value, same_value
from sync_platform.customers.model import CANONICAL_ATTRIBUTES, CanonicalCustomer

Action = Literal["apply", "billing_contact_only", "new_ship_to", "finance_review"]


def _known_attribute(name: str) -> str:
    if name not in CANONICAL_ATTRIBUTES:
        raise ValueError(f"not a canonical attribute; use one of {list(CANONICAL_ATTRIBUTES)}")
    return name


AttributeName = Annotated[str, AfterValidator(_known_attribute)]


class PolicyRule(BaseModel):
    """Matches when any of ``when_any_changed`` changed, or when every change is in
    ``when_only_changed``; ``posted_invoice`` narrows it (None: either way)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    action: Action
    reason: str
    when_any_changed: tuple[AttributeName, ...] = ()
    when_only_changed: tuple[AttributeName, ...] = ()
    posted_invoice: bool | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> PolicyRule:
        if bool(self.when_any_changed) == bool(self.when_only_changed):
            raise ValueError("give exactly one of when_any_changed and when_only_changed")
        return self

    def matches(self, changed: tuple[str, ...], has_posted_invoice: bool) -> bool:
        if self.posted_invoice is not None and self.posted_invoice != has_posted_invoice:
            return False
        if self.when_any_changed:
            return any(name in self.when_any_changed for name in changed)
        return all(name in self.when_only_changed for name in changed)


class ChangePolicy(BaseModel):
    """Rules in order of precedence: the first matching rule decides the action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[PolicyRule, ...]
    default_action: Action = "apply"

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[PolicyRule, ...]) -> tuple[PolicyRule, ...]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {repeated}")
        return rules

    @classmethod
    def load(cls, path: Path | str) -> ChangePolicy:
        return load_config(path, cls)


class ChangeDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Action
    changed: tuple[str, ...]
    reasons: tuple[str, ...]


def decide_change(
    previous: CanonicalCustomer | None,
    proposed: CanonicalCustomer,
    has_posted_invoice: bool,
    policy: ChangePolicy,
) -> ChangeDecision:
    if previous is None:
        stated = tuple(a for a in CANONICAL_ATTRIBUTES if has_value(getattr(proposed, a)))
        return ChangeDecision(action="apply", changed=stated, reasons=("new customer",))
    changed = changed_attributes(previous, proposed)
    if not changed:
        return ChangeDecision(action="apply", changed=(), reasons=("nothing changed",))
    matching = [rule for rule in policy.rules if rule.matches(changed, has_posted_invoice)]
    if not matching:
        reason = f"no rule restricts changes to {', '.join(changed)}"
        return ChangeDecision(action=policy.default_action, changed=changed, reasons=(reason,))
    return ChangeDecision(
        action=matching[0].action,
        changed=changed,
        reasons=tuple(rule.reason for rule in matching),
    )


def changed_attributes(previous: CanonicalCustomer, proposed: CanonicalCustomer) -> tuple[str, ...]:
    """Attributes whose meaning changed; case, spacing and list order do not count."""
    return tuple(
        name
        for name in CANONICAL_ATTRIBUTES
        if not same_value(getattr(previous, name), getattr(proposed, name))
    )
