"""`soloreel validate TIMELINE --production DIR [--speak]`: one line per problem (a problem
repeated in many shots is one line with its shot count), then warnings; exit 1 if any
problem (warnings never change the exit code)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.bible import load_production
from render_engine.errors import SoloreelError
from render_engine.timeline_io import production_from_env, read_timeline
from render_engine.validate import validate_report


def add_production_argument(parser: argparse.ArgumentParser) -> None:
    """`--production DIR` (or $SOLOREEL_PRODUCTION), shared by every command that needs it."""
    parser.add_argument("-p", "--production", metavar="DIR",
                        help="production folder (default: $SOLOREEL_PRODUCTION, else the "
                        "folder above the timeline's folder that holds soloreel.toml)")


def find_production(args: argparse.Namespace, timeline_path: Path | None) -> Path:
    """The production folder: explicit, from the environment, or found above the timeline."""
    explicit = production_from_env(args.production)
    if explicit:
        return explicit
    found = production_above(Path(timeline_path).resolve().parent) if timeline_path else None
    if found is None and timeline_path and Path(timeline_path).is_file():
        from render_engine.timeline_io import production_of_timeline

        found = production_of_timeline(timeline_path)  # its media point into a production
    if found is not None:
        return found
    raise SoloreelError("no production given; pass --production DIR")


def production_above(folder: Path) -> Path | None:
    """The nearest folder, `folder` itself or one of its parents, that holds soloreel.toml."""
    for candidate in (folder, *folder.parents):
        if (candidate / "soloreel.toml").is_file():
            return candidate
    return None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `validate` sub-command."""
    parser = sub.add_parser(
        "validate", help="check every clip of a timeline against the production bible",
        description="Check every clip's ShotSpec against the bible. Prints one line per "
        "problem (clip, field, what is wrong, the fix; a name missing from the bible is one "
        "line with its shot count), then warnings (characters without views, views the proxy "
        "cannot cut out, dialog running past its cut, `soloreel lint` findings); exits 1 if "
        "there is any problem, whatever the warnings.")
    parser.add_argument("timeline", type=Path, help="an .otio (or any OTIO-readable) timeline")
    add_production_argument(parser)
    parser.add_argument("--speak", action="store_true",
                        help="speak dialog lines not spoken yet (cached), so every line is "
                        "checked against its cut (default: only lines already spoken)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print each problem on its own line; 0 when clean, 1 otherwise."""
    production = load_production(find_production(args, args.timeline))
    timeline = read_timeline(args.timeline)
    report = validate_report(timeline, production, speak=getattr(args, "speak", False))
    problems, shots = report.problems, report.shots
    out = Console(highlight=False, soft_wrap=True)  # problems print even with -q
    for line in report.lines:
        out.print(line, markup=False)
    for warning in report.warnings + _lint_warnings(timeline, production):
        out.print(f"warning: {warning}", markup=False)
    for note in report.notes:
        out.print(f"note: {note}", markup=False)
    if problems:
        console.print(f"{len(problems)} problem(s) in {shots} shot(s)", style="red")
        return 1
    console.print(f"ok: {shots} shot(s), cast {len(production.cast)}, sets "
                  f"{len(production.sets)}", style="green")
    return 0


def _lint_warnings(timeline: object, production: object) -> list[str]:
    """`soloreel lint`'s findings, which validate reports as warnings (they never fail it):
    a valid edit can still frame badly."""
    from render_engine.lint import lint_timeline

    try:
        return [p.line() for p in lint_timeline(timeline, production)]  # type: ignore[arg-type]
    except SoloreelError as exc:  # e.g. a plate that cannot be read: validate says which
        return [f"lint skipped: {exc}"]
