"""Rows of flat pydantic models as a terminal table, JSON or CSV.

The command line prints rows whose fields are decided where they are queried
(analytics, inspection). Rendering from ``model_fields`` keeps every command
and output format in step with those models without a formatter per query.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import get_args

from pydantic import BaseModel
from rich import box
from rich.table import Table

from adaptive.analytics.cells import cell, field_names, heading

UNBROKEN_TEXT = 40
"""Text columns whose cells are all this short (names, ids, times) are never cut; longer
text (lists, keys) wraps first when a table is wider than the terminal."""


def _is_numeric(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    options = get_args(annotation) or (annotation,)
    return any(
        isinstance(option, type) and issubclass(option, int | float) and option is not bool
        for option in options
    )


def rows_table(
    model: type[BaseModel],
    rows: Sequence[BaseModel],
    title: str | None = None,
    fields: Sequence[str] | None = None,
) -> Table:
    """A rich table with one column per field (or per one of ``fields``).

    Numbers are right-aligned in columns as wide as their widest value, their
    headings wrapped to fit: rich would otherwise share out the width evenly
    and cut ids and names to make room for long headings.

    ``fields`` names a subset for narrow output; names the model lacks are
    skipped, and all fields are shown when none of them is left.
    """
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
    names = [name for name in fields or () if name in model.model_fields] or field_names(model)
    cells = [[cell(getattr(row, name)) for name in names] for row in rows]
    for index, name in enumerate(names):
        title = heading(name)
        longest = max((len(values[index]) for values in cells), default=0)
        if _is_numeric(model, name):
            widest_word = max(len(word) for word in title.split())
            table.add_column(title, justify="right", width=max(longest, widest_word))
        else:
            table.add_column(title, no_wrap=longest <= UNBROKEN_TEXT)
    for values in cells:
        table.add_row(*values)
    return table


def rows_json(rows: Sequence[BaseModel]) -> str:
    """A JSON array of objects; datetimes in ISO 8601, UUIDs as strings."""
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


def rows_csv(model: type[BaseModel], rows: Sequence[BaseModel]) -> str:
    """CSV with a header row; missing values are empty cells."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=field_names(model), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow({name: "" if value is None else value for name, value in values.items()})
    return out.getvalue()
