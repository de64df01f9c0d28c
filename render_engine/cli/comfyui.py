"""`soloreel comfyui check [EDIT]` and `soloreel comfyui templates`: finals through ComfyUI.

`check` reads every `backend = "comfyui"` model's server (`GET /object_info`) and reports per
workflow the node classes the server lacks (custom nodes not installed), model files not in
its loader lists, inputs the classes do not take and `soloreel:` titles that bind nothing —
before an hour of GPU time is queued (`render_engine.comfyui.check`). With an edit it also
checks each shot against its model's workflow: the characters' LoRA files on the server and
characters the workflow has no reference / voice node for. `templates` copies the shipped
API-format templates into the production's `workflows/` folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.atomic import write_bytes_atomic
from render_engine.bible import Production, load_production
from render_engine.cli.validate import add_production_argument, find_production
from render_engine.comfyui.check import CheckReport, check_workflow, shot_warnings
from render_engine.comfyui.client import ComfyClient, ComfyError
from render_engine.comfyui.workflow import (
    TEMPLATES,
    load_workflow,
    resolve_workflow,
    template_path,
)
from render_engine.errors import SoloreelError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `comfyui` sub-command group."""
    parser = sub.add_parser(
        "comfyui", help="finals rendered by your own ComfyUI server: check workflows, "
        "copy templates",
        description="Models with backend = \"comfyui\" in soloreel.toml render finals on a "
        "ComfyUI server with an API-format workflow whose nodes are titled soloreel:prompt, "
        "soloreel:seed, soloreel:output, ...")
    actions = parser.add_subparsers(dest="comfyui_action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check", help="check every comfyui model's workflow against its server",
        description="Read each comfyui model's server (GET /object_info) and report per "
        "workflow: missing node classes (custom nodes to install), missing model files, "
        "unknown inputs and unbound soloreel: titles; with EDIT, also each shot's LoRAs and "
        "characters. Exit 1 when anything would stop a render.")
    check.add_argument("timeline", type=Path, nargs="?",
                       help="an edit whose shots to check too (optional)")
    check.add_argument("--model", action="append", default=[], metavar="NAME",
                       help="check only this model (repeatable)")
    add_production_argument(check)
    check.set_defaults(run=run_check)
    templates = actions.add_parser(
        "templates", help="copy the shipped workflow templates into workflows/",
        description="Write the API-format templates (" + ", ".join(TEMPLATES) + ") into the "
        "production's workflows/ folder (never over a file already there).")
    add_production_argument(templates)
    templates.set_defaults(run=run_templates)


def _models(production: Production, wanted: list[str]) -> list[str]:
    names = sorted(n for n, e in production.settings.models.items() if e.backend == "comfyui")
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise SoloreelError(f"--model {', '.join(unknown)}: not a comfyui model in "
                            f"soloreel.toml (comfyui models: {', '.join(names) or 'none'})")
    return [n for n in names if not wanted or n in wanted]


def check_models(production: Production, names: list[str], shots: list | None = None
                 ) -> list[tuple[str, CheckReport]]:
    """One report per model: its workflow against its server, plus (with `shots`, a list
    of specs) each shot of that model's LoRAs and characters."""
    from render_engine.comfyui.backend import server_object_info
    from render_engine.final.plan import plan_final, shot_characters

    out = []
    for name in names:
        entry = production.settings.models[name]
        client = ComfyClient(entry.url or "", model=name)
        report = CheckReport(entry.workflow or "", client.url)
        try:
            flow = load_workflow(resolve_workflow(production.root, entry.workflow or ""))
            info = server_object_info(client, production.root, fresh=True)
            if info is None:
                raise ComfyError(f"ComfyUI at {client.url} is not reachable; start it or fix "
                                 f"models.{name}.url")
        except ComfyError as exc:
            report.problems.append(str(exc))
            out.append((name, report))
            continue
        loras = {m.name.lower(): (m.name, Path(m.lora.path).name)
                 for m in production.cast.values() if getattr(m, "lora", None) is not None}
        report = check_workflow(flow, info, client.url, loras)
        for spec in shots or []:
            try:
                plan = plan_final(spec, production)
            except SoloreelError:
                continue
            if plan.model != name:
                continue
            cast = [m.name.lower() for m in shot_characters(spec, production)]
            shot_loras = {str(i + 1): loras[c] for i, c in enumerate(cast) if c in loras}
            found = check_workflow(flow, info, client.url, {**loras, **shot_loras})
            report.missing_models += [f"shot {spec.shot.id}: {m}" for m in found.missing_models
                                      if m not in report.missing_models]
            report.warnings += [f"shot {spec.shot.id}: {w}" for w in shot_warnings(
                flow, cast, {"pose_video"} if plan.mode.startswith("vace") else set())]
        out.append((name, report))
    return out


def run_check(args: argparse.Namespace, console: Console) -> int:
    """Print each model's findings; 1 when any would stop a render."""
    production = load_production(find_production(args, args.timeline or Path.cwd() / "x"))
    names = _models(production, args.model)
    if not names:
        raise SoloreelError('no model in soloreel.toml has backend = "comfyui"; add one '
                            '([models.NAME] backend = "comfyui", url = ..., workflow = ...)')
    shots = None
    if args.timeline is not None:
        from render_engine.spec import spec_or_error
        from render_engine.timeline_io import iter_shots, read_timeline

        shots = []
        for ref in iter_shots(read_timeline(args.timeline)):
            try:
                spec = spec_or_error(ref.clip)
            except SoloreelError:
                continue
            if spec is not None:
                shots.append(spec)
    out = Console(highlight=False, soft_wrap=True, markup=False)
    failed = 0
    for name, report in check_models(production, names, shots):
        head = f"{name}: {report.workflow} on {report.server}"
        if report.ok:
            console.print(f"{head}: ok", style="green", markup=False)
        else:
            failed += 1
            out.print(f"{head}: cannot run", markup=False)
        for line in report.lines():
            out.print(f"  {line}", markup=False)
    return 1 if failed else 0


def run_templates(args: argparse.Namespace, console: Console) -> int:
    """Copy the templates into workflows/, keeping files already there."""
    production = load_production(find_production(args, Path.cwd() / "x"))
    folder = production.root / "workflows"
    for name in TEMPLATES:
        target = folder / name
        if target.exists():
            console.print(f"kept {target} (already there)", markup=False)
            continue
        write_bytes_atomic(target, template_path(name).read_bytes())
        console.print(f"wrote {target}", markup=False)
    return 0
