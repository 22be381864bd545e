"""Typed config schemas: what a field may hold (:class:`Range`, :class:`OneOf`), and the one check of them.

Every stage and backend has a dataclass schema beside it (``deepstory/<room>/config.py``), registered with
Hydra's ConfigStore (``deepstory.run.config.register_schemas``) and named in its YAML's defaults list, so
Hydra types every value at composition (``cut_size=lots`` fails there, naming the key).  A schema's fields
hold no defaults (``MISSING``): the YAML in ``conf/`` is the one place of the defaults, with its comments.

What Hydra cannot say (a range, an even number, one of a few words) is a field's metadata, written once
with :func:`ranged`; :func:`check_schemas` walks the composed config and checks it, and refuses any key a
schema does not know (``+key=value`` adds keys Hydra lets through).  A value written as an interpolation
(``cut_size: ${cut_size}``) is checked where the user sets it, not again where it is used.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Sequence

from omegaconf import MISSING, DictConfig, ListConfig

from deepstory.errors import UserError

#: The metadata key of a field's check.
CHECK = "check"


@dataclass(frozen=True)
class Range:
    """A number from ``lo`` to ``hi`` (either may be open: None), whole unless ``whole=False``.

    ``above``: ``lo`` itself is excluded.  ``even``: the number must be even, for this reason.  ``unit``:
    words after "number" in the message (``of seconds``).
    """

    lo: float | None = None
    hi: float | None = None
    whole: bool = True
    above: bool = False
    even: str = ""
    unit: str = ""

    def describe(self) -> str:
        kind = ("a whole number" if self.whole else "a number") + (f" {self.unit}" if self.unit else "")
        if self.lo is not None and self.hi is not None:
            return f"{kind} from {self.lo} to {self.hi}"
        if self.lo is not None:
            return f"{kind} {'above' if self.above else 'of at least'} {self.lo}"
        if self.hi is not None:
            return f"{kind} of at most {self.hi}"
        return kind

    def check(self, key: str, value: Any, nullable: bool) -> None:
        if value is None and nullable:
            return
        kinds = (int,) if self.whole else (int, float)
        ok = not isinstance(value, bool) and isinstance(value, kinds)
        if ok and self.lo is not None:
            ok = value > self.lo if self.above else value >= self.lo
        if ok and self.hi is not None:
            ok = value <= self.hi
        if not ok:
            raise UserError(f"{key}={value!r}: must be {self.describe()}{', or null' if nullable else ''}")
        if self.even and value % 2:
            raise UserError(f"{key}={value}: must be even ({self.even})")


@dataclass(frozen=True)
class OneOf:
    """One of a few words."""

    choices: Sequence[str]

    def check(self, key: str, value: Any, nullable: bool) -> None:
        if (value is None and nullable) or value in self.choices:
            return
        raise UserError(f"{key}={value!r}: must be one of {', '.join(self.choices)}")


def ranged(check: Range | OneOf) -> Any:
    """A schema field checked by ``check`` (its default is the YAML's)."""
    return field(default=MISSING, metadata={CHECK: check})


def _nullable(schema: type) -> dict[str, bool]:
    hints = typing.get_type_hints(schema)
    return {name: type(None) in typing.get_args(hint) for name, hint in hints.items()}


def _schema_of(node: DictConfig) -> type | None:
    kind = node._metadata.object_type
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def check_schemas(node: Any, prefix: str = "") -> None:
    """Every key of ``node`` known to its schema, every checked field in its range; raises one ``UserError``.

    A node whose ``_target_`` is not its schema's (another class put in its place) may have keys of its own,
    and a schema may name keys a user can add (``addable``).
    Interpolated values are left to the key they come from.
    """
    if isinstance(node, ListConfig):
        for i in range(len(node)):
            child = node._get_node(i)
            if isinstance(child, (DictConfig, ListConfig)) and not child._is_interpolation():
                check_schemas(child, f"{prefix}{i}.")
        return
    if not isinstance(node, DictConfig) or node._is_missing() or node._is_none():
        return
    schema = _schema_of(node)
    if schema is not None:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        own = fields["_target_"].default if "_target_" in fields else None
        if own in (None, MISSING) or node.get("_target_") == own:
            addable = getattr(schema, "addable", ())
            unknown = [str(k) for k in node if k not in fields and k not in addable]
            if unknown:
                known = ", ".join(sorted(fields))
                raise UserError(f"unknown config key {prefix + unknown[0]!r} (known: {known})")
        nullable = _nullable(schema)
        for name, spec in fields.items():
            check = spec.metadata.get(CHECK)
            child = node._get_node(name) if name in node else None
            if check is None or child is None or child._is_interpolation() or child._is_missing():
                continue
            check.check(prefix + name, node[name], nullable.get(name, False))
    for key in node:
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_interpolation():
            check_schemas(child, f"{prefix}{key!s}.")
