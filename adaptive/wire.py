"""Base model for objects that share a JSON wire format with NeMo Relay.

NeMo Relay's Rust types skip some ``None`` fields and write ``null`` for
others, and newer NeMo Relay versions add fields older readers do not know.
``WireModel`` keeps unknown fields (so a round trip loses nothing) and lets
each model name the optional fields it omits when unset.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


def _is_none(value: Any) -> bool:
    return value is None


class WireModel(BaseModel):
    """A pydantic model whose JSON matches the Rust serde form."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    omit_when_none: ClassVar[frozenset[str]] = frozenset()
    """Fields written only when set (``skip_serializing_if = "Option::is_none"``)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        unknown = cls.omit_when_none - cls.model_fields.keys()
        if unknown:
            raise TypeError(f"{cls.__name__}.omit_when_none names unknown fields {unknown}")
        if cls.omit_when_none:
            for name in cls.omit_when_none:
                cls.model_fields[name].exclude_if = _is_none
            cls.model_rebuild(force=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible dict NeMo Relay would write for this object."""
        result: dict[str, Any] = self.model_dump(mode="json")
        return result

    def to_wire_json(self) -> str:
        """The JSON text NeMo Relay would write for this object."""
        return self.model_dump_json()
