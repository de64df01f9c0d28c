"""The one error a screenplay can raise: what is wrong, on which line, and what to do."""

from __future__ import annotations

from render_engine.errors import SoloreelError


class FountainError(SoloreelError):
    """A screenplay that cannot be read or turned into an edit; `line` is 1-based (or None)."""

    def __init__(self, message: str, line: int | None = None, source: str = "") -> None:
        where = source or "script"
        prefix = f"{where} line {line}: " if line is not None else f"{where}: "
        super().__init__(prefix + message)
        self.line = line
        self.message = message
        self.source = source
