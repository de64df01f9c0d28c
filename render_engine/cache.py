"""The content-addressed render cache: `renders/<tier>/<hash>/f<first>_<end>/`.

`<hash>` is the shot's content hash at that tier (see hashing.py); below it, one folder per
rendered frame range (source frames, handles included), so an editor's trim inside the handles
finds the existing render. An entry is complete only when its folder exists under its final
name, which happens by one atomic rename after the media and manifest.json were written; a
render killed at any moment leaves only a `.tmp-*` folder that nothing mistakes for a result.
A per-hash file lock makes two processes that want the same render wait for one another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from render_engine.atomic import write_text_atomic

MANIFEST = "manifest.json"
_RANGE_DIR = re.compile(r"^f(-?\d+)_(-?\d+)$")


@dataclass(frozen=True)
class CacheEntry:
    """One complete render: its folder, media file and manifest."""

    tier: str
    hash: str
    first: int
    end: int
    folder: Path
    manifest: dict[str, Any]

    @property
    def media(self) -> Path:
        return self.folder / self.manifest["media"]

    def covers(self, first: int, end: int) -> bool:
        """True when this render holds every frame of [first, end)."""
        return self.first <= first and end <= self.end


class RenderCache:
    """Lookup, locking and atomic storage of renders under one production's renders/ folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def hash_dir(self, tier: str, content_hash: str) -> Path:
        return self.root / tier / content_hash

    def entries(self, tier: str, content_hash: str) -> list[CacheEntry]:
        """Every complete render of this content, smallest range first."""
        folder = self.hash_dir(tier, content_hash)
        found = []
        if folder.is_dir():
            for sub in folder.iterdir():
                match = _RANGE_DIR.match(sub.name)
                if not match:
                    continue
                entry = self._read_entry(tier, content_hash, sub, match)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: (e.end - e.first, e.first))

    def _read_entry(self, tier: str, content_hash: str, folder: Path,
                    match: re.Match[str]) -> CacheEntry | None:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        entry = CacheEntry(tier, content_hash, int(match[1]), int(match[2]), folder, manifest)
        return entry if entry.media.is_file() else None

    def lookup(self, tier: str, content_hash: str, first: int, end: int) -> CacheEntry | None:
        """The smallest complete render of this content that covers [first, end), if any."""
        for entry in self.entries(tier, content_hash):
            if entry.covers(first, end):
                return entry
        return None

    @contextlib.contextmanager
    def lock(self, tier: str, content_hash: str, timeout: float = -1) -> Iterator[None]:
        """Hold the render lock of one content hash (blocks while another process renders it)."""
        folder = self.hash_dir(tier, content_hash)
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / ".lock"), timeout=timeout):
            yield

    @contextlib.contextmanager
    def staging(self, tier: str, content_hash: str, first: int, end: int) -> Iterator[Path]:
        """A private folder to render into; `commit` moves it into place, else it is removed."""
        folder = self.hash_dir(tier, content_hash)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-f{first}_{end}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def commit(self, tier: str, content_hash: str, first: int, end: int, staged: Path,
               media_name: str, manifest: dict[str, Any]) -> CacheEntry:
        """Write the manifest and atomically publish the staged folder as a complete entry."""
        manifest = {**manifest, "media": media_name, "tier": tier, "hash": content_hash,
                    "frames": [first, end], "created": time.time()}
        write_text_atomic(staged / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        final = self.hash_dir(tier, content_hash) / f"f{first}_{end}"
        try:
            os.rename(staged, final)
        except OSError:
            if not final.is_dir():  # a real failure, not "someone published it first"
                raise
        match = _RANGE_DIR.match(final.name)
        assert match is not None
        entry = self._read_entry(tier, content_hash, final, match)
        if entry is None:
            raise OSError(f"cache entry {final} is incomplete after commit")
        return entry

    def all_entries(self) -> Iterator[CacheEntry]:
        """Every complete entry of every tier (for status and gc)."""
        if not self.root.is_dir():
            return
        for tier_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for hash_dir in sorted(p for p in tier_dir.iterdir() if p.is_dir()):
                yield from self.entries(tier_dir.name, hash_dir.name)

    def abandoned_staging(self) -> Iterator[Path]:
        """`.tmp-*` folders left by killed renders whose lock nobody holds now."""
        if not self.root.is_dir():
            return
        for tmp in self.root.glob("*/*/.tmp-*"):
            lock = FileLock(str(tmp.parent / ".lock"), timeout=0)
            try:
                with lock:
                    yield tmp
            except Timeout:
                continue
