"""Refilling a DataTable every poll without losing the reader's place: cells are updated in place while the rows
are the same ones, and the table is rebuilt only when rows come or go (the cursor then stays on the same row, found
by key, or at the same index when that row is gone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable


def fill_table(table: DataTable[Any], rows: Sequence[Sequence[str]], keys: Sequence[str] | None = None) -> None:
    keys = list(keys) if keys is not None else [str(i) for i in range(len(rows))]
    current = [str(k.value) for k in table.rows]
    if current == keys:
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if str(table.get_cell_at(Coordinate(r, c))) != value:
                    table.update_cell_at(Coordinate(r, c), value)
        return
    cursor = table.cursor_row
    selected = current[cursor] if 0 <= cursor < len(current) else None
    table.clear()
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*row, key=key)
    if rows:
        table.move_cursor(row=keys.index(selected) if selected in keys else min(cursor, len(rows) - 1))
