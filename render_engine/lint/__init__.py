"""`soloreel lint`: continuity and framing checks over a whole edit, before anything renders.

Lint reads the cameras and the blocking the proxy tier plans for every shot — through the
tier's own framing, camera moves and blocking, never a copy — and reports what an editor would
catch on a first viewing: a subject out of frame or cut by an edge, feet cut in a full shot, a
face behind a foreground mask, the 180-degree line crossed, a walker's screen direction
flipped, jump cuts, and eyelines that don't meet across a shot/reverse pair.

`lint_timeline(timeline, production)` returns the problems (`validate` can list them as
warnings via `Problem.as_problem`); `lint_report` also says how many shots were checked and
which clips were skipped because their spec does not validate.
"""

from __future__ import annotations

from dataclasses import dataclass

import opentimelineio as otio

from render_engine.bible import Production
from render_engine.lint.checks import SCENE_CHECKS, SHOT_CHECKS
from render_engine.lint.problems import KINDS, Problem, summary
from render_engine.lint.shots import gather, scenes

__all__ = ["KINDS", "LintReport", "Problem", "lint_report", "lint_timeline", "summary"]


@dataclass
class LintReport:
    """The problems of an edit in edit order, the number of shots checked, and the clips
    skipped as (label, reason) because their spec does not validate."""

    problems: list[Problem]
    shots: int
    skipped: list[tuple[str, str]]


def lint_report(timeline: otio.schema.Timeline, production: Production) -> LintReport:
    """Run every check over the timeline's shots (see the module docstring)."""
    gathered = gather(timeline, production)
    problems: list[Problem] = []
    for view in gathered.views:
        for shot_check in SHOT_CHECKS:
            problems += shot_check(view)
    for scene in scenes(gathered.views):
        for scene_check in SCENE_CHECKS:
            problems += scene_check(scene)
    order = {kind: index for index, kind in enumerate(KINDS)}
    problems.sort(key=lambda p: (p.number, order.get(p.kind, len(order))))
    return LintReport(problems, len(gathered.views), gathered.skipped)


def lint_timeline(timeline: otio.schema.Timeline, production: Production) -> list[Problem]:
    """Every continuity and framing problem of the timeline, in edit order."""
    return lint_report(timeline, production).problems
