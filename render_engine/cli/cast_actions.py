"""The character actions of `soloreel cast`: new, extra, anchors, import, candidates, pick,
caption, check, train, lora, export.

Registered into `soloreel cast`'s sub-parser by render_engine/cli/cast.py (beside `voice`).
Each action is a thin layer over render_engine.cast.*: parse, call, print what changed and
what to do next.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from render_engine.cast.dataset import (
    VIEWS,
    build_dataset,
    candidate_ids,
    check_dataset,
    contact_sheet,
    flag,
    flagged_ids,
    import_sheet,
    unflag,
    write_captions,
)
from render_engine.cast.workspace import Workspace
from render_engine.cli.validate import add_production_argument
from render_engine.cli.voice import production_here
from render_engine.errors import SoloreelError

if TYPE_CHECKING:
    from render_engine.bible import Production
    from render_engine.cast.cutout import ViewMade


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add the character actions to `soloreel cast`."""
    new = actions.add_parser("new", help="register a lead from a picture and start its "
                             "workspace",
                             description="Register cast/NAME.toml (role lead, a unique trigger "
                             "word from name + outfit; a stub from script2edit --stubs is "
                             "filled in), cut the picture out as the proxy's front view with "
                             "anchors (cast/NAME/anchors.png shows them) and create "
                             "cast/NAME/{source,candidates,picks,dataset,lora}.")
    new.add_argument("character")
    new.add_argument("--from", dest="source", type=Path, required=True, metavar="IMAGE",
                     help="a picture of the whole figure: a PNG with transparency, or on a "
                     "plain background (cut out automatically)")
    new.add_argument("--outfit", help='e.g. "sunflower dress" (part of the trigger word)')
    new.add_argument("--trigger", help="use this trigger word instead of the derived one")
    new.add_argument("--description", default="")
    new.add_argument("--height", type=float, help="height in metres")
    new.set_defaults(run=run_new)

    extra = actions.add_parser("extra", help="register an extra from one image (no training)",
                               description="Register an extra: its reference image (cut out "
                               "when the background is plain) is the proxy's front view, with "
                               "anchors estimated from the silhouette (cast/NAME/anchors.png "
                               "shows them).")
    extra.add_argument("character")
    extra.add_argument("--from", dest="source", type=Path, required=True, metavar="IMAGE")
    extra.add_argument("--description", default="")
    extra.add_argument("--height", type=float, help="height in metres")
    extra.set_defaults(run=run_extra)

    anchors = actions.add_parser(
        "anchors", help="show (cast/NAME/anchors.png) and correct a view's anchors",
        description="Redraw the anchor check image of a view (the cut-out with head top, eyes, "
        "mouth and feet marked, in view pixels) and, with --anchor, rewrite those anchors in "
        "cast/NAME.toml.")
    anchors.add_argument("character")
    anchors.add_argument("--view", default="front", help="the view (default: front)")
    anchors.set_defaults(run=run_anchors)
    for parser in (new, extra, anchors):
        parser.add_argument("--anchor", action="append", default=[], metavar="NAME=X,Y",
                            help="set an anchor in view pixels, as anchors.png shows them: "
                            "feet, eyes, mouth, head_top (X,Y) or mouth_width (PIXELS); "
                            "repeatable, e.g. --anchor eyes=256,240 --anchor feet=250,1000")

    sheet = actions.add_parser("import", help="import hand-drawn sheets as candidates")
    sheet.add_argument("character")
    sheet.add_argument("sheets", nargs="+", type=Path)
    sheet.add_argument("--grid", default="1x1", metavar="COLSxROWS",
                       help="split each sheet into equal cells (read row by row)")
    sheet.add_argument("--views", default="",
                       help=f"comma-separated view per cell ({', '.join(VIEWS)})")
    sheet.add_argument("--expression", default="neutral")
    sheet.set_defaults(run=run_import)

    candidates = actions.add_parser(
        "candidates", help="generate turnaround/expression candidates with the final models")
    candidates.add_argument("character")
    candidates.add_argument("--model", help="a model of [models] (default: the final tier's)")
    candidates.add_argument("--views", default="front,three_quarter,side,back")
    candidates.add_argument("--expressions", default="neutral")
    candidates.add_argument("--per-view", type=int, default=1)
    candidates.add_argument("--steps", type=int)
    candidates.add_argument("--size", type=int, default=512, help="square render side")
    candidates.add_argument("--seed", type=int, default=0)
    candidates.set_defaults(run=run_candidates)

    pick = actions.add_parser(
        "pick", help="contact sheet of candidates; take picks by id; build the dataset",
        description="Writes candidates/contact-sheet.png, flags the ids given (picks/ID files; "
        "you may also drop or touch files named after ids in picks/ from a file browser), "
        "copies the flagged candidates into dataset/ with captions and checks it.")
    pick.add_argument("character")
    pick.add_argument("ids", nargs="*", help="candidate ids to pick (c001 c004 …)")
    pick.add_argument("--drop", nargs="+", default=[], metavar="ID", help="un-pick ids")
    pick.set_defaults(run=run_pick)

    caption = actions.add_parser("caption", help="write caption .txt files beside the dataset")
    caption.add_argument("character")
    caption.add_argument("--overwrite", action="store_true",
                         help="replace captions already there (hand edits are lost)")
    caption.set_defaults(run=run_caption)

    check = actions.add_parser("check", help="check the dataset (count, size, duplicates, views)")
    check.add_argument("character")
    check.add_argument("--min-side", type=int, default=256)
    check.set_defaults(run=run_check)

    train = actions.add_parser("train", help="train the character's LoRA (peft, flow matching)",
                               description="Train a LoRA on the production's Wan transformer "
                               "from cast/NAME/dataset; resumes from the latest checkpoint "
                               "unless --restart; saves cast/NAME/lora/vN.safetensors and "
                               "registers it in cast/NAME.toml.")
    train.add_argument("character")
    train.add_argument("--steps", type=int, default=1000)
    train.add_argument("--rank", type=int, default=16)
    train.add_argument("--alpha", type=float)
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--resolution", type=int, default=512)
    train.add_argument("--batch-size", type=int, default=1)
    train.add_argument("--gradient-checkpointing", action="store_true")
    train.add_argument("--base-dtype", choices=("float32", "bfloat16", "fp8"),
                       default="float32")
    train.add_argument("--sample-every", type=int, default=0)
    train.add_argument("--sample-steps", type=int, default=8)
    train.add_argument("--checkpoint-every", type=int, default=0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--min-side", type=int, default=256)
    train.add_argument("--model", help="a t2v model of [models] (default: the final tier's)")
    train.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    train.set_defaults(run=run_train)

    lora = actions.add_parser("lora", help="use a LoRA trained elsewhere (ComfyUI, musubi…)")
    lora.add_argument("character")
    lora.add_argument("file", type=Path)
    lora.add_argument("--weight", type=float, default=1.0)
    lora.set_defaults(run=run_lora)

    export = actions.add_parser(
        "export", help="write the character's LoRA for ComfyUI or diffusers",
        description="Convert the LoRA cast/NAME.toml uses (trained or imported) to ComfyUI's "
        "keys (diffusion_model.blocks.N.self_attn.q.lora_down/lora_up/alpha: ComfyUI's "
        "LoraLoader and Wan loaders apply every key) or to diffusers' keys "
        "(WanPipeline.load_lora_weights). Default file: cast/NAME/lora/NAME_vN_FORMAT"
        ".safetensors.")
    export.add_argument("character")
    export.add_argument("--format", dest="fmt", choices=("comfyui", "diffusers"),
                        default="comfyui")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="where to write it (a .safetensors file)")
    export.set_defaults(run=run_export)

    for parser in (new, extra, anchors, sheet, candidates, pick, caption, check, train, lora,
                   export):
        add_production_argument(parser)


def _workspace(args: argparse.Namespace) -> tuple[Workspace, object]:
    production = production_here(args)
    member = production.member(args.character)
    return Workspace(production, member.name), member


def _print_view(console: Console, production: Production, made: ViewMade) -> None:
    """The view's keying, anchors and check image, and any warning about them."""
    how = {"alpha": "its own transparency", "plain-background": "cut out (plain background)",
           "screen": "green/blue screen (keyed by the proxy)", "none": "NOT keyed"}
    shown = ", ".join(f"{name} {value[0]:g},{value[1]:g}" if isinstance(value, list) else
                      f"{name} {value:g}" for name, value in made.anchors.items())
    root = production.root
    console.print(f"view {made.image.relative_to(root)} ({made.size[0]}x{made.size[1]}, "
                  f"{how.get(made.method, made.method)}): {shown}", markup=False)
    console.print(f"anchor check: {made.check.relative_to(root)} — correct with "
                  "--anchor NAME=X,Y", markup=False)
    for warning in made.warnings:
        console.print(f"warning: {warning}", markup=False)


def _print_seated(console: Console, production: Production, name: str) -> None:
    """Say that a seated view was derived (when it was)."""
    seated = production.cast[name].views.get("sit_front")
    if seated is not None and seated.image == f"{name}/sit_front.png":
        console.print(f"seated view cast/{seated.image}: derived from the picture (legs folded "
                      "onto a stool) for scenes where the character sits; paint a sit_front "
                      "view to replace it", markup=False)


def run_new(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.cutout import new_with_view

    production = production_here(args)
    fields = {"height_m": args.height} if args.height else {}
    workspace, made, member = new_with_view(
        production, args.character, args.source, args.anchor, outfit=args.outfit,
        trigger=args.trigger, description=args.description, role="lead", **fields)
    console.print(f"cast/{member.name}.toml: lead, trigger {member.trigger}", markup=False)
    _print_view(console, production, made)
    _print_seated(console, production, member.name)
    console.print(f"workspace {workspace.root.relative_to(production.root)}/ — next: "
                  f"`soloreel cast candidates {member.name}` or `soloreel cast import "
                  f"{member.name} SHEET.png`", markup=False)
    return 0


def run_extra(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.cutout import ViewMade
    from render_engine.cast.extra import new_extra

    production = production_here(args)
    workspace, info = new_extra(production, args.character, args.source, args.description,
                                args.height, args.anchor)
    console.print(f"cast/{workspace.name}.toml: extra", markup=False)
    made = ViewMade(workspace.root / "front.png", info["anchors"], info["method"],
                    tuple(info["size"]), info["check"], info["warnings"])
    _print_view(console, production, made)
    _print_seated(console, production, workspace.name)
    return 0


def run_anchors(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.cutout import correct_anchors

    production = production_here(args)
    made = correct_anchors(production, args.character, args.view, args.anchor)
    if args.anchor:
        console.print(f"cast/{production.member(args.character).name}.toml: views.{args.view} "
                      "anchors rewritten", markup=False)
    _print_view(console, production, made)
    return 0


def run_import(args: argparse.Namespace, console: Console) -> int:
    workspace, _member = _workspace(args)
    match = re.fullmatch(r"(\d+)x(\d+)", args.grid)
    if not match:
        raise SoloreelError("--grid wants COLUMNSxROWS, e.g. 4x2")
    grid = (int(match.group(1)), int(match.group(2)))
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    ids = []
    for sheet in args.sheets:
        ids += import_sheet(workspace, sheet, grid, views, args.expression)
    console.print(f"imported {len(ids)} candidate(s): {' '.join(ids)}", markup=False)
    return 0


def run_candidates(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.candidates import generate_candidates

    workspace, _member = _workspace(args)
    ids = generate_candidates(
        workspace.production, workspace.name, model=args.model,
        views=[v.strip() for v in args.views.split(",") if v.strip()],
        expressions=[e.strip() for e in args.expressions.split(",") if e.strip()],
        per_view=args.per_view, steps=args.steps, size=args.size, seed=args.seed)
    console.print(f"generated {len(ids)} candidate(s): {' '.join(ids)}", markup=False)
    return 0


def _print_report(console: Console, report) -> None:
    for error in report.errors:
        console.print(f"error: {error}", markup=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False)
    views = ", ".join(f"{v} {n}" for v, n in sorted(report.views.items())) or "none"
    console.print(f"{len(report.images)} image(s); views: {views}; "
                  f"{'ready to train' if report.ok else 'NOT ready to train'}", markup=False)


def run_pick(args: argparse.Namespace, console: Console) -> int:
    workspace, member = _workspace(args)
    if args.ids:
        flag(workspace, args.ids)
    if args.drop:
        unflag(workspace, args.drop)
    if candidate_ids(workspace):
        sheet = contact_sheet(workspace)
        console.print(f"contact sheet: {sheet.relative_to(workspace.production.root)}",
                      markup=False)
    picked = flagged_ids(workspace)
    console.print(f"picked: {' '.join(picked) or 'none'}", markup=False)
    outfit = workspace.info().get("outfit") or None
    build_dataset(workspace, member.trigger or member.name, outfit)  # type: ignore[attr-defined]
    report = check_dataset(workspace.folder("dataset"))
    _print_report(console, report)
    return 0 if report.ok else 1


def run_caption(args: argparse.Namespace, console: Console) -> int:
    workspace, member = _workspace(args)
    outfit = workspace.info().get("outfit") or None
    written = write_captions(workspace, member.trigger or member.name,  # type: ignore[attr-defined]
                             outfit, overwrite=args.overwrite)
    console.print(f"wrote {len(written)} caption(s)", markup=False)
    return 0


def run_check(args: argparse.Namespace, console: Console) -> int:
    workspace, _member = _workspace(args)
    report = check_dataset(workspace.folder("dataset"), min_side=args.min_side)
    _print_report(console, report)
    return 0 if report.ok else 1


def run_train(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.train import TrainOptions, train_lora

    production = production_here(args)
    options = TrainOptions(
        steps=args.steps, rank=args.rank, alpha=args.alpha or float(args.rank),
        learning_rate=args.lr, resolution=args.resolution, batch_size=args.batch_size,
        gradient_checkpointing=args.gradient_checkpointing, base_dtype=args.base_dtype,
        seed=args.seed, sample_every=args.sample_every, sample_steps=args.sample_steps,
        checkpoint_every=args.checkpoint_every, min_side=args.min_side, model=args.model)
    result = train_lora(production, args.character, options, console,
                        resume=not args.restart)
    first = result.losses[:5]
    last = result.losses[-5:]
    console.print(f"{result.lora.relative_to(production.root)}: steps {result.first_step + 1}"
                  f"–{result.steps}, loss {sum(first) / len(first):.4f} → "
                  f"{sum(last) / len(last):.4f}, {result.seconds:.1f} s on {result.device}; "
                  f"registered in cast/{production.member(args.character).name}.toml",
                  markup=False)
    if result.comfyui is not None:
        console.print(f"{result.comfyui.relative_to(production.root)}: the same LoRA with "
                      "ComfyUI's keys", markup=False)
    return 0


def run_export(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.lora_io import export_lora

    production = production_here(args)
    output = args.output
    if output is not None and output.suffix != ".safetensors":
        raise SoloreelError(f"{output}: the export is a safetensors file; name it "
                            f"{output.with_suffix('.safetensors').name}")
    target, count = export_lora(production, args.character, args.fmt, output)
    where = (target.relative_to(production.root) if production.root in target.parents
             else target)
    hint = ("copy it into ComfyUI/models/loras/ and load it with LoraLoaderModelOnly"
            if args.fmt == "comfyui" else "load it with pipe.load_lora_weights(FILE)")
    console.print(f"{where}: {args.fmt} keys, {count} tensors — {hint}", markup=False)
    return 0


def run_lora(args: argparse.Namespace, console: Console) -> int:
    from render_engine.cast.lora_io import import_lora

    production = production_here(args)
    target, kind = import_lora(production, args.character, args.file, args.weight)
    console.print(f"{target.relative_to(production.root)}: imported ({kind} keys → diffusers),"
                  " registered", markup=False)
    return 0
