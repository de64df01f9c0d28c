"""The shot registry: every shot id the production has exported, with its spec and history.

NLEs drop our metadata, so the production itself remembers what each shot id means. One JSON
file per shot under `<production>/registry/shots/`, written atomically; a spec change appends
the previous spec to the shot's history (with the reason: edit, retake, fix, split...). Editor
orders already applied and alternate takes live on the same record. `layouts/` keeps where each
shot sat in the last export (for position matching) and in the last render (for the relink
diff).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from render_engine.atomic import write_text_atomic
from render_engine.cache import MANIFEST
from render_engine.nle.identity import cache_parts
from render_engine.spec import ShotSpec, parse_spec

REGISTRY_DIR = "registry"
FINAL_QUEUE = "final_queue.json"
"""The shots `final` markers asked for (`soloreel render EDIT --tier final --queued`)."""


def spec_digest(spec: ShotSpec) -> str:
    """A short digest of a spec's content (any tier): what the relink diff compares for
    `changed`, so an import compares against an export made at another tier."""
    text = json.dumps(spec.to_metadata(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ShotRegistry:
    """Read and update the registry of one production folder."""

    def __init__(self, production_root: Path | str):
        self.root = Path(production_root) / REGISTRY_DIR
        self._media_index: dict[str, list[str]] | None = None

    # -- shots -----------------------------------------------------------------------------

    def _path(self, shot_id: str) -> Path:
        return self.root / "shots" / f"{shot_id}.json"

    def get(self, shot_id: str) -> dict[str, Any] | None:
        """The raw record of a shot id, or None when the registry has never seen it."""
        path = self._path(shot_id)
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def spec(self, shot_id: str) -> ShotSpec | None:
        """The current spec of a shot id."""
        record = self.get(shot_id)
        return parse_spec(record["spec"]) if record else None

    def save(self, record: dict[str, Any]) -> None:
        """Write one record atomically."""
        write_text_atomic(self._path(record["id"]), json.dumps(record, indent=1, sort_keys=True))
        self._media_index = None

    def record(self, spec: ShotSpec, reason: str = "export", parent: str | None = None,
               media: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """Remember `spec` as the current spec of its id (history grows only on a change)."""
        data = spec.to_metadata()
        known = self.get(spec.shot.id)
        record = known or {"id": spec.shot.id, "spec": data, "history": [],
                           "parent": parent, "media": [], "takes": [],
                           "orders_done": [], "created": time.time()}
        changed = record["spec"] != data
        if changed:
            record["history"].append({"spec": record["spec"], "replaced": time.time(),
                                      "reason": reason})
            record["spec"] = data
        new_media = [m for m in media if m not in record["media"]]
        if parent and not record.get("parent"):
            record["parent"] = parent
        if changed or new_media or known is None:
            record["media"] += new_media
            self.save(record)
        return record

    def ids(self) -> list[str]:
        """Every shot id known."""
        folder = self.root / "shots"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    # -- media -----------------------------------------------------------------------------

    def media_shots(self, path: Path) -> list[str]:
        """Every shot id an exported media file was recorded for (a split piece or a duplicate
        shares its parent's file), in the order they were recorded."""
        if self._media_index is None:
            self._media_index = {}
            for shot_id in self.ids():
                for media in (self.get(shot_id) or {}).get("media", []):
                    self._media_index.setdefault(media, []).append(shot_id)
        key = str(Path(path).resolve()) if Path(path).exists() else str(path)
        return list(self._media_index.get(key, []))

    def by_media(self, path: Path) -> tuple[str, ShotSpec] | None:
        """(shot id, spec) of the shot a media file was rendered or exported for.

        Looks the path up among exported media first, then reads the cache manifest beside a
        cache path (the spec that rendered it)."""
        for shot_id in self.media_shots(path):
            spec = self.spec(shot_id)
            if spec is not None:
                return shot_id, spec
        if cache_parts(path) is None:
            return None
        manifest = Path(path).parent / MANIFEST
        try:
            data = json.loads(manifest.read_text())
            spec = parse_spec(data["spec"])
        except (OSError, ValueError, KeyError):
            return None
        current = self.spec(spec.shot.id)
        return spec.shot.id, current or spec

    def media_windows(self, shot_id: str) -> list[tuple[str, int, int]]:
        """(file name, first, end) of every cache file recorded for a shot: the source frames
        each movie holds, read from its render folder's name (`f<first>_<end>`)."""
        found = []
        for media in (self.get(shot_id) or {}).get("media", []):
            parts = cache_parts(Path(media))
            if parts is not None:
                found.append((parts[4], parts[2], parts[3]))
        return found

    # -- the final queue -------------------------------------------------------------------

    def final_queue(self) -> list[str]:
        """Shot ids a `final` marker queued for the final tier, oldest first."""
        path = self.root / FINAL_QUEUE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return []
        return [str(item) for item in data] if isinstance(data, list) else []

    def queue_final(self, shot_id: str) -> None:
        """Add a shot to the final queue (once)."""
        queue = self.final_queue()
        if shot_id not in queue:
            write_text_atomic(self.root / FINAL_QUEUE, json.dumps([*queue, shot_id]))

    # -- layouts ---------------------------------------------------------------------------

    def save_layout(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Store a layout (rows of shot id, track, record frame, range, hash)."""
        write_text_atomic(self.root / "layouts" / f"{name}.json", json.dumps(rows, indent=1))

    def layout(self, name: str) -> list[dict[str, Any]]:
        """A stored layout, or [] when none was saved under that name."""
        path = self.root / "layouts" / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else []


class DryRegistry(ShotRegistry):
    """A registry that reads the production's files but keeps every write in memory: what an
    `import --dry-run` uses, so planning an import changes nothing on disk."""

    def __init__(self, production_root: Path | str):
        super().__init__(production_root)
        self._records: dict[str, dict[str, Any]] = {}
        self._layouts: dict[str, list[dict[str, Any]]] = {}
        self._queue: list[str] | None = None

    def get(self, shot_id: str) -> dict[str, Any] | None:
        """The record as this dry run left it, else as on disk."""
        if shot_id in self._records:
            return json.loads(json.dumps(self._records[shot_id]))
        return super().get(shot_id)

    def save(self, record: dict[str, Any]) -> None:
        """Keep the record in memory."""
        self._records[record["id"]] = json.loads(json.dumps(record))
        self._media_index = None

    def ids(self) -> list[str]:
        """Ids on disk and those this dry run added."""
        return sorted(set(super().ids()) | set(self._records))

    def save_layout(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Keep the layout in memory."""
        self._layouts[name] = rows

    def layout(self, name: str) -> list[dict[str, Any]]:
        """The layout as this dry run left it, else as on disk."""
        return self._layouts[name] if name in self._layouts else super().layout(name)

    def final_queue(self) -> list[str]:
        """The queue as this dry run left it, else as on disk."""
        return list(self._queue) if self._queue is not None else super().final_queue()

    def queue_final(self, shot_id: str) -> None:
        """Queue in memory."""
        queue = self.final_queue()
        if shot_id not in queue:
            self._queue = [*queue, shot_id]
