"""One error for every malformed trace: it names the file and the line, so a user can fix it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path


class TraceError(ValueError):
    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


def csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream a CSV file's rows as (line number, row); a missing column or a short row raises
    ``TraceError`` naming the file and line."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or ())]
        if missing:
            raise TraceError(path, 1, f"missing columns {missing}; header is {reader.fieldnames}")
        for row in reader:
            if None in row.values() or None in row:
                raise TraceError(path, reader.line_num, "wrong number of fields")
            yield reader.line_num, row
