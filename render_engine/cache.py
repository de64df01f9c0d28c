"""The content-addressed render cache: `renders/<tier>/<hash>/f<first>_<end>/`.

`<hash>` is the shot's content hash at that tier (see hashing.py); below it, one folder per
rendered frame range (source frames, handles included), so an editor's trim inside the handles
finds the existing render. An entry is complete only when its folder exists under its final
name, which happens by one atomic rename after the media and manifest.json were written; a
render killed at any moment leaves only a `.tmp-*` folder that nothing mistakes for a result.
A per-hash file lock makes two processes that want the same render wait for one another.

Every process that renders also holds a production-wide *render lock* (`rendering`), so
`soloreel gc --delete` can tell that a render is running (its new entries may not be in any
edit on disk yet) and refuse; a gc that deletes holds the gc gate, which a render waits for
before it takes its render lock, so the two never interleave.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
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
RENDER_LOCKS = ".rendering"
"""Folder under renders/ with one lock file per process that is rendering (`<pid>-<id>.lock`)."""
GC_GATE = ".gc.lock"
"""Lock file under renders/ that a deleting gc holds and a starting render waits for."""
_RENDER_LOCK_NAME = re.compile(r"^(\d+)-[0-9a-f]+\.lock$")

_held_lock = threading.Lock()
_held: dict[Path, tuple[int, FileLock, Path]] = {}
"""Render locks this process holds, by renders/ folder: (depth, lock, lock file)."""


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (a lock or staging folder of a dead one is
    abandoned)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is someone else's
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ActiveRender:
    """A process holding a production's render lock."""

    pid: int
    lock_file: Path


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

    def created(self) -> float:
        """When the entry was published (manifest `created`, else the manifest's mtime), so gc
        can leave young renders alone."""
        stamp = self.manifest.get("created")
        if isinstance(stamp, int | float):
            return float(stamp)
        try:
            return (self.folder / MANIFEST).stat().st_mtime
        except OSError:
            return time.time()


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
    def try_lock(self, tier: str, content_hash: str) -> Iterator[bool]:
        """Hold the render lock of one content hash if nobody else does; yields False (without
        the lock) when another process holds it (gc skips what is being rendered)."""
        folder = self.hash_dir(tier, content_hash)
        if not folder.is_dir():
            yield True
            return
        lock = FileLock(str(folder / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def clear_staging(self, tier: str, content_hash: str) -> int:
        """Remove every `.tmp-*` folder of one content hash; call it holding that hash's lock.

        Staging happens only under the lock, so whatever staging exists while we hold it was
        left by a killed render. Returns how many folders were removed."""
        folder = self.hash_dir(tier, content_hash)
        removed = 0
        for tmp in folder.glob(".tmp-*") if folder.is_dir() else []:
            shutil.rmtree(tmp, ignore_errors=True)
            removed += not tmp.exists()
        return removed

    def clear_abandoned_staging(self) -> int:
        """Remove the `.tmp-*` folders of killed renders anywhere in the cache (hashes someone
        is rendering right now are left alone); returns how many were removed."""
        removed = 0
        for tmp in self.abandoned_staging():
            shutil.rmtree(tmp, ignore_errors=True)
            removed += not tmp.exists()
        return removed

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
        for tier_dir in sorted(p for p in self.root.iterdir()
                               if p.is_dir() and not p.name.startswith(".")):
            for hash_dir in sorted(p for p in tier_dir.iterdir() if p.is_dir()):
                yield from self.entries(tier_dir.name, hash_dir.name)

    def abandoned_staging(self) -> Iterator[Path]:
        """`.tmp-*` folders left by killed renders whose lock nobody holds now."""
        if not self.root.is_dir():
            return
        for tmp in sorted(self.root.glob("*/*/.tmp-*")):
            lock = FileLock(str(tmp.parent / ".lock"), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                continue
            try:
                if tmp.exists():
                    yield tmp
            finally:
                lock.release()

    # -- the production-wide render lock and the gc gate ------------------------------------

    @contextlib.contextmanager
    def gc_gate(self, timeout: float = -1) -> Iterator[None]:
        """Held by a gc while it deletes; a render that starts meanwhile waits for it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / GC_GATE), timeout=timeout):
            yield

    @contextlib.contextmanager
    def rendering(self) -> Iterator[None]:
        """Hold this production's render lock while rendering and linking (re-entrant within
        a process). On first entry it waits for a deleting gc to finish and clears the staging
        folders killed renders left behind."""
        key = self.root.resolve()
        with _held_lock:
            held = _held.get(key)
            if held is not None:
                _held[key] = (held[0] + 1, held[1], held[2])
        if held is None:
            folder = self.root / RENDER_LOCKS
            with self.gc_gate():
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.lock"
                lock = FileLock(str(path))
                lock.acquire()
            with _held_lock:
                _held[key] = (1, lock, path)
            self.clear_abandoned_staging()
        try:
            yield
        finally:
            with _held_lock:
                depth, lock, path = _held[key]
                if depth > 1:
                    _held[key] = (depth - 1, lock, path)
                else:
                    del _held[key]
                    lock.release()
                    with contextlib.suppress(OSError):
                        path.unlink()

    def active_renders(self) -> list[ActiveRender]:
        """The processes rendering in this production now (their render lock is held); lock
        files of processes that died are removed on the way."""
        folder = self.root / RENDER_LOCKS
        active = []
        for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
            match = _RENDER_LOCK_NAME.match(path.name)
            pid = int(match[1]) if match else 0
            lock = FileLock(str(path), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                active.append(ActiveRender(pid, path))
                continue
            lock.release()
            if not pid_alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()
        return active
