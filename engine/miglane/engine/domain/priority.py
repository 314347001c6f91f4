"""VM migration priority: the values an admin may set, the priority a migration runs with, and
each priority's weight in the AUTO bandwidth split.

The original proposal for migration networks had the bandwidth "specified by customer according
to the priority they suppose": a HIGH VM's migration gets twice a NORMAL one's share of a link,
a LOW one half (`PRIORITY_WEIGHTS`). The queue admits higher priorities first
(`admission.queue_order_key`).
"""

from __future__ import annotations

from dataclasses import replace

from miglane.engine.domain.errors import InvalidArgument
from miglane.engine.domain.model import Migration, MigrationPriority, Vm

# Each priority's weight in a link's AUTO split: shares are proportional to these.
PRIORITY_WEIGHTS: dict[MigrationPriority, int] = {
    MigrationPriority.HIGH: 4,
    MigrationPriority.NORMAL: 2,
    MigrationPriority.LOW: 1,
}

SETTABLE_PRIORITIES: tuple[MigrationPriority, ...] = tuple(PRIORITY_WEIGHTS)


def priority_weight(priority: MigrationPriority) -> int:
    """`priority`'s weight; UNSPECIFIED (an old record) weighs as NORMAL."""
    return PRIORITY_WEIGHTS.get(priority, PRIORITY_WEIGHTS[MigrationPriority.NORMAL])


def validate_priority(field: str, value: int) -> MigrationPriority:
    """A priority a client asked for (a number of the contract's enum)."""
    names = ", ".join(p.label for p in SETTABLE_PRIORITIES)
    try:
        priority = MigrationPriority(value)
    except ValueError:
        raise InvalidArgument(field, f"unknown priority {value}; give one of {names}") from None
    if priority not in PRIORITY_WEIGHTS:
        raise InvalidArgument(field, f"give a priority: one of {names}")
    return priority


def parse_priority(text: str) -> MigrationPriority:
    """`high`, `normal` or `low` (any case), as the CLI and TUI take it."""
    for priority in SETTABLE_PRIORITIES:
        if priority.label == text.strip().lower():
            return priority
    names = ", ".join(p.label for p in SETTABLE_PRIORITIES)
    raise InvalidArgument("priority", f"unknown priority {text!r}; give one of {names}")


def following_vm(migration: Migration, vm: Vm) -> Migration:
    """`migration` of `vm` after the VM's priority changed: it follows unless overridden."""
    if migration.priority_override is not None or migration.priority is vm.priority:
        return migration
    return replace(migration, priority=vm.priority)
