"""What lint reports: one `Problem` per continuity or framing fault, naming the shot, its place
in the edit, what is wrong and the fix."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from render_engine import errors

KINDS: dict[str, str] = {
    "out_of_frame": "subject out of frame",
    "edge_cut": "head cut by an edge",
    "feet_cut": "feet cut",
    "mask": "face behind a foreground mask",
    "line": "180° line crossed",
    "direction": "screen direction flipped",
    "jump_cut": "jump cut",
    "eyeline": "eyelines don't meet",
    "seated_view": "seated without a seated view",
}
"""Every kind of problem, in report order, with its label for the summary."""


@dataclass(frozen=True)
class Problem:
    """One finding: the kind (a key of KINDS), the shot (id, clip name, clip number, where it
    starts in the edit as timecode and seconds), what is wrong and how to fix it."""

    kind: str
    shot: str
    clip: str
    number: int
    time: str
    seconds: float
    what: str
    fix: str

    def line(self) -> str:
        """`SHOT (clip name) at TIME: WHAT — fix: FIX`, as `soloreel lint` prints it."""
        return f"{self.shot} ({self.clip}) at {self.time}: {self.what} — fix: {self.fix}"

    def as_problem(self) -> errors.Problem:
        """The finding as a validation `Problem` (where: the clip, field: `lint.KIND`), for
        `soloreel validate` to list among its warnings."""
        where = f'shot {self.number} "{self.clip}" @ {self.time}'
        return errors.Problem(where, f"lint.{self.kind}", self.what, self.fix)


def summary(problems: list[Problem]) -> str:
    """`3 problem(s): 1 jump cut, 2 feet cut` in KINDS order ("no problems" when clean)."""
    if not problems:
        return "no problems"
    counts = Counter(p.kind for p in problems)
    parts = [f"{counts[kind]} {label}" for kind, label in KINDS.items() if counts[kind]]
    parts += [f"{n} {kind}" for kind, n in counts.items() if kind not in KINDS]
    return f"{len(problems)} problem(s): " + ", ".join(parts)
