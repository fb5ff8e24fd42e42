"""Comparison of exported state with the reference state NeMo Relay wrote."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import rfc8785

IDENTITY_KEYS = frozenset({"ir_id", "created_at", "generated_at"})


def assert_json_close(
    actual: Any,
    expected: Any,
    *,
    rel: float = 1e-9,
    ignore: frozenset[str] = frozenset(),
    path: str = "$",
) -> None:
    """Equal JSON, floats to a relative tolerance, ``ignore`` keys skipped anywhere."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {type(actual).__name__}"
        expected_keys = {k for k in expected if k not in ignore}
        actual_keys = {k for k in actual if k not in ignore}
        assert actual_keys == expected_keys, (
            f"{path}: keys differ: missing {sorted(expected_keys - actual_keys)}, "
            f"extra {sorted(actual_keys - expected_keys)}"
        )
        for key in expected_keys:
            assert_json_close(
                actual[key], expected[key], rel=rel, ignore=ignore, path=f"{path}.{key}"
            )
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected array, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_json_close(a, e, rel=rel, ignore=ignore, path=f"{path}[{index}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float), f"{path}: {actual!r} is not a number"
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-12), (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def strip_keys(value: Any, ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: strip_keys(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [strip_keys(v, ignore) for v in value]
    return value


def canonical_multiset(values: list[Any], ignore: frozenset[str] = frozenset()) -> Counter[bytes]:
    """Order-free comparison of JSON values (exact)."""
    return Counter(rfc8785.dumps(strip_keys(value, ignore)) for value in values)
