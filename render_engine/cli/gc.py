"""`soloreel gc`: remove cache entries no edit of the production uses (dry run default).

An entry is kept when any of these holds:
- an edit anywhere in the production (every `*.otio`/`*.otioz` below its folder, skipping
  `renders/`, hidden folders and virtual environments, plus `--timeline` files) links it or has
  a shot whose content hash at some tier (a draft final, NLE layers included) is the entry's;
- the production's shot registry names it (a current spec, or exported media);
- it is younger than the grace period (`--grace`, default 1 h): a render that has not written
  its edit yet still owns it;
- another process holds its hash's render lock (it is being rendered).

`--delete` is refused while a render holds the production's render lock (its new entries may be
in no edit on disk yet) or an edit cannot be read, unless `--force`; `--force` never overrides
the rules above. While gc deletes it holds the gc gate, so a render that starts waits for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
from rich.console import Console

from render_engine.bible import TIERS, Production, load_production
from render_engine.cache import CacheEntry, RenderCache
from render_engine.errors import SoloreelError
from render_engine.hashing import shot_hash
from render_engine.spec import ShotSpec, spec_or_error
from render_engine.timeline_io import read_timeline

DEFAULT_GRACE_SECONDS = 3600.0
EDIT_SUFFIXES = (".otio", ".otioz")
_GRACE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_grace(text: str) -> float:
    """`90`, `90s`, `30m`, `1h`, `2d` → seconds (argparse type of --grace)."""
    match = _GRACE.match(str(text))
    if not match:
        raise argparse.ArgumentTypeError(
            f'"{text}" is not a duration; write seconds or a number with s, m, h or d '
            "(e.g. 0, 90s, 30m, 1h)")
    return float(match[1]) * _UNIT[match[2].lower()]


def _grace_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def find_edits(root: Path) -> list[Path]:
    """Every edit file below the production folder: `*.otio`/`*.otioz`, not hidden (atomic
    writes stage as hidden temp files), outside `renders/`, hidden folders and virtual
    environments."""
    root = Path(root)
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and d not in ("node_modules", "__pycache__")
                         and not (here == root and d == "renders")
                         and not (here / d / "pyvenv.cfg").exists())
        found += [here / name for name in sorted(files)
                  if name.endswith(EDIT_SUFFIXES) and not name.startswith(".")]
    return found


@dataclass
class References:
    """What the edits and the registry keep: (tier, hash) pairs, and what was read."""

    keep: set[tuple[str, str]] = field(default_factory=set)
    edits: list[tuple[Path, int]] = field(default_factory=list)
    """Each edit read, with its number of shots."""
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    registry_shots: int = 0


def _cache_key(url: str, renders: Path) -> tuple[str, str] | None:
    """(tier, hash) when a media URL points inside this production's render cache."""
    parsed = urlparse(url)
    path = Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else None
    if path is None:
        return None
    with contextlib.suppress(OSError, RuntimeError):
        path = path.resolve()
    try:
        parts = path.relative_to(renders).parts
    except ValueError:
        return None
    return (parts[0], parts[1]) if len(parts) >= 3 else None


class _Hasher:
    """Content hashes of specs at every tier, a draft final and the NLE layers."""

    def __init__(self, production: Production):
        from render_engine.final.quality import draft_view

        self.production = production
        self.drafts = draft_view(production)

    def hashes(self, spec: ShotSpec) -> Iterator[tuple[str, str]]:
        from render_engine.nle.layers import LAYERS_TIER, layer_hashes

        jobs = [(tier, self.production, tier) for tier in TIERS]
        if self.drafts is not None:
            jobs.append(("final", self.drafts, "final"))
        for tier, production, hashed_as in jobs:
            with contextlib.suppress(SoloreelError):
                yield tier, shot_hash(spec, production, hashed_as)
        with contextlib.suppress(SoloreelError):  # each layer has its own address
            for layer in layer_hashes(spec, self.production):
                yield LAYERS_TIER, layer


def references(edits: list[Path], production: Production) -> References:
    """Read every edit and the registry; collect what they keep."""
    found = References()
    renders = production.renders_dir().resolve()
    hasher = _Hasher(production)
    for path in edits:
        try:
            timeline = read_timeline(path)
        except SoloreelError as exc:
            found.unreadable.append((path, str(exc)))
            continue
        shots = 0
        for clip in timeline.find_clips():
            for reference in clip.media_references().values():
                if isinstance(reference, otio.schema.ExternalReference):
                    key = _cache_key(reference.target_url or "", renders)
                    if key is not None:
                        found.keep.add(key)
            try:
                spec = spec_or_error(clip)
            except SoloreelError:
                continue
            if spec is not None:
                shots += 1
                found.keep.update(hasher.hashes(spec))
        found.edits.append((path, shots))
    _registry_references(production, hasher, found)
    return found


def _registry_references(production: Production, hasher: _Hasher, found: References) -> None:
    from render_engine.nle.registry import ShotRegistry

    registry = ShotRegistry(production.root)
    renders = production.renders_dir().resolve()
    for shot_id in registry.ids():
        try:
            record = registry.get(shot_id) or {}
            spec = registry.spec(shot_id)
        except (OSError, ValueError, SoloreelError):
            continue
        found.registry_shots += 1
        if spec is not None:
            found.keep.update(hasher.hashes(spec))
        for media in record.get("media", []):
            key = _cache_key(str(media), renders)
            if key is not None:
                found.keep.add(key)


def referenced_hashes(timelines: list[Path], production: Production) -> set[tuple[str, str]]:
    """(tier, hash) of every render the given edits (and the registry) keep."""
    return references(timelines, production).keep


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gc` sub-command."""
    parser = sub.add_parser(
        "gc", help="remove renders no edit references (dry run default)",
        description="List (or with --delete remove) cache entries that no edit of the "
        "production references, and partial renders killed runs left. Kept always: renders "
        "any *.otio below the production links or hashes to (renders/ and hidden folders "
        "skipped), renders the shot registry names, renders younger than --grace, renders "
        "being made. --delete is refused while a render is running (unless --force).")
    parser.add_argument("production", type=Path, help="the production folder")
    parser.add_argument("--timeline", action="append", type=Path, default=[],
                        help="also keep renders of this edit (edits below the production "
                        "are always read)")
    parser.add_argument("--grace", type=parse_grace, default=DEFAULT_GRACE_SECONDS,
                        metavar="DURATION",
                        help="keep renders younger than this (default 1h; e.g. 0, 90s, 30m, 2d)")
    parser.add_argument("--delete", action="store_true", help="really delete")
    parser.add_argument("--force", action="store_true",
                        help="delete even while a render is running or an edit cannot be read "
                        "(locked and young renders and referenced ones are still kept)")
    parser.set_defaults(run=run)


@dataclass
class Sweep:
    """What one gc pass found: entries to remove, entries kept and why, partial renders."""

    doomed: list[CacheEntry] = field(default_factory=list)
    young: int = 0
    locked: int = 0
    partial: list[Path] = field(default_factory=list)


def sweep(cache: RenderCache, keep: set[tuple[str, str]], grace: float) -> Sweep:
    """Entries no reference keeps, minus young ones; abandoned staging folders."""
    result = Sweep()
    now = time.time()
    for entry in cache.all_entries():
        if (entry.tier, entry.hash) in keep:
            continue
        if now - entry.created() < grace:
            result.young += 1
            continue
        result.doomed.append(entry)
    result.partial = list(cache.abandoned_staging())
    return result


def _delete(cache: RenderCache, found: Sweep, grace: float
            ) -> tuple[list[CacheEntry], int, int]:
    """Remove doomed entries under their hash's lock (skipping locked ones, re-checking age),
    then empty hash folders and abandoned staging. Returns (removed entries, partial renders
    removed, bytes freed)."""
    removed: list[CacheEntry] = []
    freed = _size(found.partial)
    by_hash: dict[tuple[str, str], list[CacheEntry]] = {}
    for entry in found.doomed:
        by_hash.setdefault((entry.tier, entry.hash), []).append(entry)
    for (tier, content_hash), entries in by_hash.items():
        with cache.try_lock(tier, content_hash) as mine:
            if not mine:
                found.locked += len(entries)
                continue
            for entry in entries:
                if time.time() - entry.created() < grace:
                    found.young += 1
                    continue
                freed += _size([entry.folder])
                shutil.rmtree(entry.folder, ignore_errors=True)
                removed.append(entry)
            cache.clear_staging(tier, content_hash)
            folder = cache.hash_dir(tier, content_hash)
            if folder.is_dir() and not cache.entries(tier, content_hash) and not any(
                    p.name != ".lock" for p in folder.iterdir()):
                with contextlib.suppress(OSError):
                    (folder / ".lock").unlink()
                    folder.rmdir()
    partial = cache.clear_abandoned_staging()
    return removed, partial, freed


def _size(paths: list[Path]) -> int:
    total = 0
    for folder in paths:
        for item in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if item.is_file():
                    total += item.stat().st_size
    return total


def run(args: argparse.Namespace, console: Console) -> int:
    """Report (and with --delete remove) unreferenced entries; see the module docstring."""
    production = load_production(args.production, strict=True)
    cache = RenderCache(production.renders_dir())
    edits = list(dict.fromkeys([*find_edits(production.root),
                                *(Path(p).resolve() for p in args.timeline)]))
    if not edits and not (production.root / "registry" / "shots").is_dir():
        raise SoloreelError(f"no edits (*.otio) in {production.root}; pass --timeline to say "
                            "which renders to keep")
    gate = cache.gc_gate() if args.delete else contextlib.nullcontext()
    with gate:
        active = cache.active_renders()
        if args.delete and active and not args.force:
            pids = ", ".join(str(a.pid) for a in active)
            raise SoloreelError(
                f"gc --delete: a render is running in {production.root} (process {pids}); its "
                "new renders may be in no edit yet — run gc when it has finished, or pass "
                "--force (young, locked and referenced renders are kept either way)")
        # read the edits only now: a render that finished before the gate wrote its edit
        found = references(edits, production)
        for path, shots in found.edits:
            console.print(f"read edit {_shown(path, production)}: {shots} shot(s)", markup=False)
        if found.registry_shots:
            console.print(f"read the shot registry: {found.registry_shots} shot(s)")
        for path, reason in found.unreadable:
            console.print(f"cannot read edit {_shown(path, production)}: {reason}",
                          markup=False)
        if args.delete and found.unreadable and not args.force:
            raise SoloreelError(
                f"gc --delete: {len(found.unreadable)} edit(s) cannot be read, so their "
                "renders cannot be told apart; fix or move them, or pass --force")
        if active:
            console.print(f"{len(active)} render(s) running now", markup=False)
        plan = sweep(cache, found.keep, args.grace)
        if args.delete:
            removed, partial, size = _delete(cache, plan, args.grace)
        else:
            size = _size([e.folder for e in plan.doomed] + plan.partial)
            removed, partial = plan.doomed, len(plan.partial)
    verb = "removing " if args.delete else "would remove "
    for entry in removed:
        console.print(verb + _shown(entry.folder, production), markup=False)
    for folder in plan.partial if not args.delete else []:
        console.print(verb + _shown(folder, production), markup=False)
    kept = []
    if plan.young:
        kept.append(f"{plan.young} younger than {_grace_text(args.grace)}")
    if plan.locked:
        kept.append(f"{plan.locked} being rendered")
    summary = "removed" if args.delete else "would free"
    console.print(f"{summary} {size / 1e6:.1f} MB in {len(removed)} render(s) and {partial} "
                  f"partial render(s)" + (f"; kept {', '.join(kept)}" if kept else "")
                  + ("" if args.delete else "; run with --delete"), markup=False)
    return 0


def _shown(path: Path, production: Production) -> str:
    try:
        return Path(path).resolve().relative_to(production.root).as_posix()
    except ValueError:
        return str(path)
