"""One error for every malformed trace: it names the file and the line, so a user can fix it."""

from __future__ import annotations

from pathlib import Path


class TraceError(ValueError):
    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
