"""`soloreel init DIR`: scaffold a new production."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from render_engine.scaffold import init_production


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `init` sub-command."""
    parser = sub.add_parser("init", help="create a new production folder",
                            description="Create a production: soloreel.toml, cast/, sets/, "
                            "scripts/, timelines/, renders/.")
    parser.add_argument("folder", type=Path, help="the production folder to create")
    parser.add_argument("--name", help="production title (default: from the folder name)")
    parser.add_argument("--force", action="store_true",
                        help="rewrite soloreel.toml if the folder is a production already")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Create the folder layout and report what was made."""
    created = init_production(args.folder, args.name, args.force)
    console.print(f"created production in {args.folder} ({len(created)} entries)")
    console.print("next: add cast/<name>.toml and sets/<name>.toml, then "
                  f"`soloreel validate EDIT.otio --production {args.folder}`")
    return 0
