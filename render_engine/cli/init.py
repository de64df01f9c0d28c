"""`soloreel init DIR [--from SCRIPT]`: scaffold a new production (and block a screenplay out
into it, writing the cast and set stubs it needs)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rich.console import Console

from render_engine.atomic import atomic_path
from render_engine.errors import SoloreelError
from render_engine.scaffold import init_production


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `init` sub-command."""
    parser = sub.add_parser("init", help="create a new production folder",
                            description="Create a production: soloreel.toml, cast/, sets/, "
                            "scripts/, timelines/, renders/. With --from, copy a Fountain "
                            "screenplay into scripts/ and run `script2edit --stubs` on it.")
    parser.add_argument("folder", type=Path, help="the production folder to create")
    parser.add_argument("--name", help="production title (default: from the folder name)")
    parser.add_argument("--force", action="store_true",
                        help="rewrite soloreel.toml if the folder is a production already")
    parser.add_argument("--from", dest="script", type=Path, metavar="SCRIPT",
                        help="a .fountain screenplay: copied into scripts/, blocked out into "
                        "timelines/SCRIPT.otio, with cast and set stubs for its names")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Create the folder layout and report what was made; then the screenplay, if given."""
    if args.script is not None and not args.script.is_file():
        raise SoloreelError(f"--from {args.script}: no such screenplay; give a .fountain file")
    created = init_production(args.folder, args.name, args.force)
    console.print(f"created production in {args.folder} ({len(created)} entries)")
    if args.script is None:
        console.print("next: add cast/<name>.toml and sets/<name>.toml, then "
                      f"`soloreel validate EDIT.otio --production {args.folder}` (or start "
                      f"from a screenplay: `soloreel script2edit SCRIPT --stubs -p "
                      f"{args.folder}`)")
        return 0
    from render_engine.cli.script2edit import convert_script

    script = args.folder / "scripts" / args.script.name
    if script.resolve() != args.script.resolve():
        if script.exists():
            raise SoloreelError(f"{script} exists already; rename the screenplay or remove it")
        with atomic_path(script) as tmp:
            shutil.copyfile(args.script, tmp)
        console.print(f"copied {args.script} to {script}")
    code = convert_script(script, args.folder, None, None, True, console)
    if code == 0:
        edit = args.folder / "timelines" / f"{script.stem}.otio"
        console.print(f"next: `soloreel cast new NAME --from PICTURE.png -p {args.folder}` per "
                      f"character, then `soloreel render {edit} --tier proxy`")
    return code
