"""Resolving user-written paths so they can never point outside the production folder."""

from __future__ import annotations

from pathlib import Path

from render_engine.errors import SoloreelError


class PathOutsideProduction(SoloreelError):
    """A path in the bible or a ShotSpec resolves outside the production folder."""


class BadPath(SoloreelError):
    """A path in the bible or a ShotSpec that no file can have: a NUL byte, a newline or
    another control character (they broke the OS call or the media tools' file lists), or a
    path that cannot be resolved at all. Callers add the field that wrote it."""


def resolve_inside(root: Path, base: Path, relative: str) -> Path:
    """Resolve `relative` against `base` and insist the result stays inside `root`.

    Productions are moved between machines and shared; a path that escapes the folder (`../`,
    an absolute path, a symlink out) would silently depend on files the production doesn't own.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise SoloreelError("empty path")
    bad = next((c for c in relative if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise BadPath(
            f"{ascii(relative)[:200]} contains a control character ({bad!a}); write the "
            "file's name without NUL bytes, newlines or tabs"
        )
    candidate = Path(relative)
    if candidate.is_absolute():
        raise PathOutsideProduction(
            f'"{relative}" is an absolute path; write it relative to the production folder'
        )
    try:
        resolved = (base / candidate).resolve()
        root_resolved = root.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise BadPath(f"{ascii(relative)[:200]} cannot be resolved ({exc}); fix the path") \
            from exc
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathOutsideProduction(
            f'"{relative}" points outside the production folder {root_resolved}; '
            "copy the file into the production and refer to it from there"
        )
    return resolved
