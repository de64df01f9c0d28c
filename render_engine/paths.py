"""Resolving user-written paths so they can never point outside the production folder."""

from __future__ import annotations

from pathlib import Path

from render_engine.errors import SoloreelError


class PathOutsideProduction(SoloreelError):
    """A path in the bible or a ShotSpec resolves outside the production folder."""


def resolve_inside(root: Path, base: Path, relative: str) -> Path:
    """Resolve `relative` against `base` and insist the result stays inside `root`.

    Productions are moved between machines and shared; a path that escapes the folder (`../`,
    an absolute path, a symlink out) would silently depend on files the production doesn't own.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise SoloreelError("empty path")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise PathOutsideProduction(
            f'"{relative}" is an absolute path; write it relative to the production folder'
        )
    resolved = (base / candidate).resolve()
    root_resolved = root.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathOutsideProduction(
            f'"{relative}" points outside the production folder {root_resolved}; '
            "copy the file into the production and refer to it from there"
        )
    return resolved
