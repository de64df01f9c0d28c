"""The shot registry: every shot id the production has exported, with its spec and history.

NLEs drop our metadata, so the production itself remembers what each shot id means. One JSON
file per shot under `<production>/registry/shots/`, written atomically; a spec change appends
the previous spec to the shot's history (with the reason: edit, retake, fix, split...). Editor
orders already applied and alternate takes live on the same record. `layouts/` keeps where each
shot sat in the last export (for position matching) and in the last render (for the relink
diff).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from render_engine.atomic import write_text_atomic
from render_engine.cache import MANIFEST
from render_engine.nle.identity import cache_parts
from render_engine.spec import ShotSpec, parse_spec

REGISTRY_DIR = "registry"


class ShotRegistry:
    """Read and update the registry of one production folder."""

    def __init__(self, production_root: Path | str):
        self.root = Path(production_root) / REGISTRY_DIR
        self._media_index: dict[str, str] | None = None

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
        record = self.get(spec.shot.id) or {"id": spec.shot.id, "spec": data, "history": [],
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
        if changed or new_media or not self._path(spec.shot.id).is_file():
            record["media"] += new_media
            self.save(record)
        return record

    def ids(self) -> list[str]:
        """Every shot id known."""
        folder = self.root / "shots"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    # -- media -----------------------------------------------------------------------------

    def by_media(self, path: Path) -> tuple[str, ShotSpec] | None:
        """(shot id, spec) of the shot a media file was rendered or exported for.

        Looks the path up among exported media first, then reads the cache manifest beside a
        cache path (the spec that rendered it)."""
        if self._media_index is None:
            self._media_index = {}
            for shot_id in self.ids():
                for media in (self.get(shot_id) or {}).get("media", []):
                    self._media_index[media] = shot_id
        key = str(Path(path).resolve()) if Path(path).exists() else str(path)
        shot_id = self._media_index.get(key)
        if shot_id is not None:
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

    # -- layouts ---------------------------------------------------------------------------

    def save_layout(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Store a layout (rows of shot id, track, record frame, range, hash)."""
        write_text_atomic(self.root / "layouts" / f"{name}.json", json.dumps(rows, indent=1))

    def layout(self, name: str) -> list[dict[str, Any]]:
        """A stored layout, or [] when none was saved under that name."""
        path = self.root / "layouts" / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else []
