"""`soloreel queue add|list|cancel|retry|pause|resume|run`: the production's render queue."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from render_engine.bible import TIERS
from render_engine.cli.render import parse_shot_selection
from render_engine.cli.validate import add_production_argument, find_production, production_above
from render_engine.errors import SoloreelError
from render_engine.final.quality import QUALITIES
from render_engine.queue.records import DONE, PENDING, RUNNING, Job


def _production(args: argparse.Namespace, timeline: Path | None = None) -> Path:
    """-p / $SOLOREEL_PRODUCTION, the timeline's production, else the one around the current
    folder."""
    if args.production or timeline is not None:
        return find_production(args, timeline)
    try:
        return find_production(args, None)
    except SoloreelError:
        found = production_above(Path.cwd())
        if found is None:
            raise SoloreelError("queue: no production here; pass --production DIR or run it "
                                "inside a production folder") from None
        return found


def _ids(values: list[str]) -> list[int] | None:
    ids = []
    for value in values:
        if not value.isdigit():
            raise SoloreelError(f'queue: "{value}" is not a job id; `soloreel queue list` shows '
                                "them (leave ids out for every job)")
        ids.append(int(value))
    return ids or None


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number of workers (1 or more)')
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `queue` sub-command and its actions."""
    parser = sub.add_parser(
        "queue", help="the production's persistent render queue and its farm",
        description="Queue renders (keyed by content hash: a shot added twice is one job, a "
        "cached one is done at once), watch them, and work them here or on a Ray farm.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="queue the shots of an edit at a tier")
    add.add_argument("timeline", type=Path)
    add.add_argument("--tier", choices=TIERS, default="final")
    add.add_argument("--shots", help="only these shot numbers, e.g. 3,5-9")
    add.add_argument("--quality", choices=QUALITIES, default="full",
                     help="final tier: `draft` queues step-distilled drafts")
    add.add_argument("--priority", type=int, default=0,
                     help="higher runs first (default 0)")
    add_production_argument(add)
    listing = actions.add_parser("list", help="jobs: state, shot, tier, model, estimate, ETA, "
                                 "worker, progress")
    listing.add_argument("--all", action="store_true", help="also done and cancelled jobs")
    add_production_argument(listing)
    for name, text in (("cancel", "cancel jobs (a running one stops at its next frame)"),
                       ("retry", "parked or cancelled jobs pending again"),
                       ("pause", "leave pending jobs alone until resume"),
                       ("resume", "paused jobs pending again")):
        action = actions.add_parser(name, help=text)
        action.add_argument("ids", nargs="*", help="job ids (default: every job)")
        add_production_argument(action)
    run_parser = actions.add_parser("run", help="work the queue here, or on a Ray farm")
    run_parser.add_argument("--tier", choices=TIERS, action="append",
                            help="only jobs of this tier (repeatable; default: every tier, "
                            "the CPU tiers with --workers N)")
    run_parser.add_argument("--workers", type=_workers, default=1, metavar="N",
                            help="worker processes for the CPU tiers (default 1)")
    run_parser.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                            help="run on a Ray cluster: one actor per GPU (num_gpus=1 + "
                            "soloreel_vram_gib), CPU actors for proxies; ADDRESS of an existing "
                            "cluster, default: the one `ray start` runs here, else a local one")
    run_parser.add_argument("--ship", action="store_true",
                            help="Ray: workers do not share this filesystem: send them the "
                            "production and stream renders back (default: detected)")
    run_parser.add_argument("--lease", type=float, default=60.0, metavar="S",
                            help="seconds a worker's claim lasts without a heartbeat")
    add_production_argument(run_parser)
    parser.set_defaults(run=run)


def job_table(jobs: list[Job], now: float | None = None) -> Table:
    """The `queue list` table; ETA: when each open job should finish, working through the
    queue in order on as many workers as are busy now."""
    now = time.time() if now is None else now
    table = Table(title="render queue")
    for column in ("id", "state", "shot", "tier", "model", "estimate", "ETA", "worker",
                   "progress", "note"):
        table.add_column(column)
    busy = max(1, len({j.worker for j in jobs if j.state == RUNNING}))
    ahead = 0.0
    for job in jobs:
        eta = ""
        if job.state == RUNNING:
            share = job.progress_done / job.progress_total if job.progress_total else 0.0
            eta_s = job.estimate_s * (1 - share)
            ahead += eta_s
            eta = time.strftime("%H:%M", time.localtime(now + eta_s))
        elif job.state == PENDING and not job.reason:
            ahead += job.estimate_s
            eta = time.strftime("%H:%M", time.localtime(now + ahead / busy))
        progress = (f"{job.progress_done}/{job.progress_total}" if job.progress_total
                    and job.state in (RUNNING, DONE) else "")
        estimate = (f"{job.estimate_s / 60:.1f} GPU min" if job.tier == "final"
                    else f"{job.estimate_s:.1f} s")
        note = job.error if job.error and job.state != DONE else job.reason
        table.add_row(str(job.id), job.state + (f" ({job.attempts}x)" if job.attempts else ""),
                      job.shot_id, job.tier + ("/draft" if job.quality != "full" else ""),
                      job.model or "—", estimate, eta, job.worker if job.state == RUNNING
                      else "", progress, note[:120])
    return table


def run(args: argparse.Namespace, console: Console) -> int:
    """Carry out one queue action; exit 1 when shots could not be queued or jobs failed."""
    from render_engine.queue.store import JobQueue

    if args.action == "add":
        from render_engine.queue.enqueue import enqueue_edit

        root = _production(args, args.timeline)
        done = enqueue_edit(args.timeline, root, args.tier, parse_shot_selection(args.shots),
                            args.quality, args.priority)
        errors = Console(stderr=True, highlight=False, soft_wrap=True)
        for label, problem in done.problems.items():
            errors.print(f"not queued: {label}: {problem}", markup=False)
        console.print(f"queued {done.count('added')} new, {done.count('exists')} already "
                      f"queued, {done.count('requeued')} requeued, {done.count(DONE)} cached "
                      f"(done) → {JobQueue.of(root).path}", markup=False)
        return 1 if done.problems else 0
    root = _production(args)
    queue = JobQueue.of(root)
    if args.action == "list":
        states = None if args.all else ("pending", "running", "parked", "paused")
        jobs = queue.jobs(states)
        console.print(job_table(jobs))
        counts = queue.counts()
        console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty",
                      markup=False)
        return 0
    if args.action in ("cancel", "retry", "pause", "resume"):
        changed = getattr(queue, args.action)(_ids(args.ids))
        console.print(f"{args.action}: {len(changed)} job(s)"
                      + (f" ({', '.join(str(j.id) for j in changed)})" if changed else ""),
                      markup=False)
        return 0
    tiers = tuple(args.tier or (TIERS if args.workers == 1 or args.ray is not None
                                else ("placeholder", "proxy")))  # N processes: CPU tiers
    if args.ray is not None:
        from render_engine.queue.farm import run_farm

        farm = run_farm(root, None if args.ray == "auto" else args.ray, tiers,
                        ship=True if args.ship else None, lease_s=args.lease)
        for line in farm.lines():
            console.print(line, markup=False)
        return 1 if farm.failed else 0
    from render_engine.queue.runner import run_local, summary

    reports = run_local(root, args.workers, tiers, lease_s=args.lease)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for report in reports:
        for label, error in report.failed.items():
            errors.print(f"failed: {label}: {error}", markup=False)
    counts = summary(reports)
    console.print(f"rendered {counts['rendered']}, cached {counts['cached']}, failed "
                  f"{counts['failed']} on {len(reports)} worker(s)", markup=False)
    return 1 if counts["failed"] else 0
