"""`soloreel render EDIT --tier T`: render what is missing, link every tier, write the edit."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from render_engine.bible import TIERS, load_production
from render_engine.cache import RenderCache
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.errors import SoloreelError
from render_engine.estimate import seconds_per_frame
from render_engine.final.cost import FinalEstimates
from render_engine.final.quality import (
    QUALITIES,
    mark_draft,
    quality_of,
    with_quality,
)
from render_engine.freshness import (
    CUT_FRAMES,
    RENDER_FRAMES,
    Freshness,
    TierState,
    frames_note,
)
from render_engine.render import ShotPlan, plan_shot
from render_engine.render_pool import default_jobs, link_plans
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline


def parse_shot_selection(text: str | None) -> set[int] | None:
    """`3,5-9` → {3, 5, 6, 7, 8, 9}; None selects every shot."""
    if not text:
        return None
    chosen: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                if low > high:
                    raise ValueError
                chosen.update(range(low, high + 1))
            else:
                chosen.add(int(part))
        except ValueError:
            raise SoloreelError(f'--shots: "{part}" is not a shot number or range like 5-9') \
                from None
    return chosen


def _jobs(text: str) -> int:
    """`--jobs N`: a whole number of processes, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number of processes (1 or more)')
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `render` sub-command."""
    parser = sub.add_parser(
        "render", help="render the shots of an edit at a tier and link them",
        description="Render every shot whose media is missing at the tier (cached shots are "
        "linked at once), hang every cached tier on each clip and write the linked edit.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--tier", choices=TIERS, default="placeholder")
    parser.add_argument("-o", "--output", type=Path,
                        help="linked edit to write (default: overwrite the input .otio)")
    parser.add_argument("--shots", help="only these shot numbers, e.g. 3,5-9")
    parser.add_argument("-j", "--jobs", type=_jobs, default=None, metavar="N",
                        help="shots rendered at once, one process each (default: one per CPU "
                        "core for the placeholder and proxy tiers, 1 for the final tier)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would render, what is cached, and time estimates")
    parser.add_argument("--queued", action="store_true",
                        help="only the shots `final` markers queued on import (--tier final)")
    parser.add_argument("--quality", choices=QUALITIES, default="full",
                        help="final tier only: `draft` renders with the model's step-distilled "
                        "LoRA (models.NAME.draft_lora): draft_steps steps at guidance 1, the "
                        "same size, seeds and noise as the full final; linked as the clip's "
                        "final media until a full final replaces it")
    add_production_argument(parser)
    parser.set_defaults(run=run)


def plan_timeline(args: argparse.Namespace):
    """Load everything and plan each selected shot (drafts: see `final.quality`)."""
    quality = getattr(args, "quality", "full")
    if quality != "full" and args.tier != "final":
        raise SoloreelError(f"--quality {quality} is a final-tier option; add --tier final "
                            "(or leave --quality out)")
    production = with_quality(
        load_production(find_production(args, args.timeline), strict=True), quality)
    timeline = read_timeline(args.timeline)
    cache = RenderCache(production.renders_dir())
    selection = parse_shot_selection(args.shots)
    plans = [plan_shot(ref, production, cache, args.tier) for ref in iter_shots(timeline)
             if ref.has_spec and (selection is None or ref.number in selection)]
    if getattr(args, "queued", False):  # what `final` markers asked for (nle.orders)
        from render_engine.nle.orders import queued_plans

        plans = queued_plans(plans, production.root, args.tier)
    return production, timeline, cache, plans


def plan_states(plans: list[ShotPlan], production, cache: RenderCache) -> list[TierState]:
    """Each plan's state through `render_engine.freshness` (what `status` and the review
    tools say), reusing the plans already made."""
    freshness = Freshness(production, cache)
    return [freshness.state(plan.ref, plan.tier, plan) for plan in plans]


def final_dry_run_table(plans: list[ShotPlan], production, cache: RenderCache
                        ) -> tuple[Table, FinalEstimates]:
    """The final tier's plan: per shot the cut's frames, frames+handles, Wan frames, steps,
    guidance (cfg), VACE passes (layers), size, state, GPU minutes — of a draft when
    `production` is a draft view; the sources of the figures in the caption. The minutes and
    the total are `final.cost.final_estimates`, the figures the storyboard and plot print."""
    from render_engine.final.cost import final_estimates

    estimates = final_estimates(plan_states(plans, production, cache), production, cache)
    quality = next((quality_of(e) for e in production.settings.models.values()), "full")
    title = {"draft": "final draft render plan", "keyframe": "final keyframe render plan (one "
             "frame per shot)"}.get(quality, "final render plan")
    table = Table(title=f"{title} on {estimates.gpu} ({estimates.found})")
    for column in ("#", "shot", CUT_FRAMES, RENDER_FRAMES, "wan", "steps", "cfg", "layers",
                   "size", "mode", "state", "peak GiB", "GPU min"):
        table.add_column(column)
    for row in estimates.rows:
        plan, cost = row.state.plan, row.cost
        assert plan is not None
        if plan.problem or plan.spec is None:
            table.add_row(str(plan.ref.number), plan.ref.clip.name, *[""] * 8, "invalid", "",
                          "")
            continue
        cut, state = str(plan.shown[1] - plan.shown[0]), _state_text(row.state)
        if cost is None:
            table.add_row(str(plan.ref.number), plan.spec.shot.id, cut, str(plan.frames),
                          *[""] * 6, f"error: {row.error}", "", "")
            continue
        table.add_row(str(plan.ref.number), plan.spec.shot.id, cut, str(plan.frames),
                      f"{cost.wan_frames}" + (f"/{cost.segments}seg" if cost.segments > 1 else ""),
                      str(cost.steps), f"{cost.guidance:g}", str(cost.layers),
                      f"{cost.width}x{cost.height}", cost.mode, state,
                      f"{cost.peak_gib:.1f} ({cost.profile})" if cost.peak_gib else "",
                      f"{row.minutes:.2f}" if quality == "keyframe" else f"{row.minutes:.1f}")
    table.caption = (f"total GPU time to render: {estimates.total_text()}\n"
                     f"{frames_note(production.settings.production.handles)}\nsources: "
                     + "\n  ".join(estimates.sources or ["none"]))
    return table, estimates


def _state_text(state: TierState) -> str:
    """A dry run's state cell: the freshness state, and "cached"/"render" — what a render
    would do (a fresh linked render the cache lacks renders again)."""
    action = "render" if state.to_render else "cached"
    return f"{state.state}, {action}"


def dry_run_table(plans: list[ShotPlan], tier: str, cache: RenderCache,
                  production=None) -> Table:
    """What a render would do, per shot, with time estimates (the final tier's table, and
    its estimates, are `final_dry_run_table`'s)."""
    if tier == "final" and production is not None:
        return final_dry_run_table(plans, production, cache)[0]
    rate, source = seconds_per_frame(cache)[tier]
    table = Table(title=f"{tier} render plan (estimates: {rate:.3f} s/frame, {source})")
    for column in ("#", "shot", CUT_FRAMES, RENDER_FRAMES, "state", "estimate"):
        table.add_column(column)
    states = (plan_states(plans, production, cache) if production is not None
              else [None] * len(plans))
    total = 0.0
    for plan, state in zip(plans, states, strict=True):
        if plan.problem:
            table.add_row(str(plan.ref.number), plan.ref.clip.name, "", "", "invalid", "")
            continue
        estimate = 0.0 if plan.cached else plan.frames * rate
        total += estimate
        table.add_row(str(plan.ref.number), plan.spec.shot.id if plan.spec else "",
                      str(plan.shown[1] - plan.shown[0]), str(plan.frames),
                      _state_text(state) if state is not None
                      else "cached" if plan.cached else "render", f"{estimate:.1f} s")
    table.caption = f"total to render: {total:.1f} s"
    if production is not None:
        table.caption += "\n" + frames_note(production.settings.production.handles)
    return table


def render_plans(plans: list[ShotPlan], tier: str, production, cache: RenderCache,
                 console: Console, jobs: int = 1) -> None:
    """Render and link every plan with a progress bar of frames, `jobs` shots at once
    (`render_pool`). A draft run marks the clips' final media as drafts (other runs keep cached
    drafts on clips without a full final: `render.attach_references`)."""
    todo = sum(p.frames for p in plans if not p.cached and not p.problem)
    order = plans
    if tier == "final":  # by model, then fewest LoRA loads: each model loads once
        from render_engine.final.batch import order_plans

        order = order_plans(plans, production)
    drafting = tier == "final" and any(  # drafts and keyframes: see final.quality
        quality_of(e) != "full" for e in production.settings.models.values())
    columns = (TextColumn("{task.description}", markup=False), BarColumn(),
               MofNCompleteColumn(), TextColumn("frames"), TimeElapsedColumn())
    bar = Progress(*columns, console=console, transient=False, disable=console.quiet)
    task = bar.add_task(tier, total=max(1, todo))

    def starting(plan: ShotPlan) -> None:
        bar.update(task, description=f"{tier} {plan.ref.clip.name}"[:40])

    try:  # the bar's thread starts once the workers exist (`render_pool` forks them)
        link_plans(order, production, cache, jobs, lambda n: bar.advance(task, n), starting,
                   ready=bar.start)
    finally:
        bar.stop()
    for plan in order:
        if drafting and plan.spec is not None and not plan.problem and (
                plan.result or plan.cached):
            mark_draft(plan.ref.clip)


def summarise(plans: list[ShotPlan], output: Path, console: Console) -> int:
    """Print failures (to stderr, even with -q) and the summary; the exit code. A shot another
    process rendered while this one waited for it counts as cached (and is said so)."""
    rendered = sum(1 for p in plans if p.result is not None and not p.rendered_elsewhere)
    elsewhere = sum(1 for p in plans if p.result is not None and p.rendered_elsewhere)
    cached = sum(1 for p in plans if p.cached is not None) + elsewhere
    failed = [p for p in plans if p.error or p.problem]
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for plan in failed:
        errors.print(f"failed: {plan.problem or plan.ref.label + ': ' + str(plan.error)}",
                     markup=False)
    by_other = f" ({elsewhere} rendered by another process)" if elsewhere else ""
    console.print(f"rendered {rendered}, cached {cached}{by_other}, failed {len(failed)} → "
                  f"{output}", markup=False)
    return 1 if failed else 0


def run(args: argparse.Namespace, console: Console) -> int:
    """Render, link, write, summarise; exit 1 if any shot failed or was invalid.

    A real render holds the production's render lock from planning (a cached render found
    then is linked later) until the linked edit is written, so `gc --delete` cannot remove
    anything this run links before an edit on disk references it."""
    if args.dry_run:
        production, timeline, cache, plans = plan_timeline(args)
        problem = None
        if args.tier == "final":
            table, estimates = final_dry_run_table(plans, production, cache)
            problem = estimates.problem
        else:
            table = dry_run_table(plans, args.tier, cache, production)
        console.print(table)
        for plan in plans:
            if plan.problem:
                console.print(plan.problem, markup=False)
        if problem:  # a 0.0-minute total would be a lie: say which key to set
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"error: {problem}", markup=False)
            return 1
        return 1 if any(p.problem for p in plans) else 0
    checked = load_production(find_production(args, args.timeline), strict=True)
    with RenderCache(checked.renders_dir()).rendering():
        production, timeline, cache, plans = plan_timeline(args)
        output = args.output or args.timeline
        jobs = args.jobs or default_jobs(args.tier)
        render_plans(plans, args.tier, production, cache, console, jobs)
        write_timeline(timeline, output)
    return summarise(plans, output, console)
