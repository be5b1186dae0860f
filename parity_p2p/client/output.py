"""What commands print: aligned text for people, `--output json` for scripts (one JSON document on stdout)."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

import typer


class OutputFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def plain(value: Any) -> Any:
    """JSON-ready values: dataclasses as objects, enums by name (lower case), bytes as 0x-hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(plain(value), indent=2, sort_keys=False))


def fields_text(rows: Sequence[tuple[str, str]]) -> str:
    """`Label:   value` lines with the values aligned."""
    width = max((len(label) for label, _ in rows), default=0) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table with a header rule; columns as wide as their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    out = [line.format(*headers).rstrip(), "  ".join("-" * w for w in widths)]
    out.extend(line.format(*row).rstrip() for row in rows)
    return "\n".join(out)


def emit(fmt: OutputFormat, value: Any, text: str) -> None:
    """Print `value` as JSON or `text` for people."""
    if fmt is OutputFormat.JSON:
        emit_json(value)
    else:
        typer.echo(text)
