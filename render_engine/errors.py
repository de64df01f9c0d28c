"""Errors a user can act on: each names where the problem is, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass


class SoloreelError(Exception):
    """A problem with the user's input that they can fix; printed as one line, no traceback."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where (clip or file), which field, what is wrong, how to fix it."""

    where: str
    field: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The one-line form printed by `soloreel validate`."""
        text = f"{self.where} {self.field}: {self.message}" if self.field else (
            f"{self.where}: {self.message}"
        )
        return f"{text}; {self.fix}" if self.fix else text
