"""Which weights a named model is, as a content-hash input: a final keys on its weights.

A model entry in soloreel.toml names a *location* (a local folder or a hub id); the weights at
that location can change while the entry stays the same (a re-download, a `git pull` of the
hub repo, a fine-tune saved over the folder). `weights_identity` turns the location into what
is there now, with no network and without loading anything:

- a **hub id** keys on the commit of the snapshot the HF cache resolves it to: the
  `refs/<revision>` file of `models--<org>--<name>` (`main` when no revision is pinned; a
  40-hex revision is a commit itself) naming a folder under `snapshots/` — the layout
  huggingface_hub's `file_download.py` writes and `snapshot_download(local_files_only=True)`
  reads. The cache is `HF_HUB_CACHE` (else `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, then
  huggingface_hub's default), read when called, so a process that changes it sees the change.
  A hub model pinned to a full commit sha keys on that sha even before it is fetched; an
  unpinned one not in the cache keys as uncached (fetch it before rendering: once it is in
  the cache its key becomes the commit, so a final rendered while it downloaded reads stale).
- a **local folder** keys on the SHA-256 of every file in it (relative path + digest),
  hidden files and `.cache/` excluded. Hashing a 14B model's ~60 GB takes minutes, so the
  digests are kept in `renders/.weights_digests.json` keyed by each file's path, size, inode
  and change times (the same identity `hashing.file_digest` memoises by): a folder is read
  once per change, later `status`/`plan` calls only stat its files.

No torch here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render_engine.atomic import write_text_atomic
from render_engine.errors import SoloreelError

if TYPE_CHECKING:
    from render_engine.bible import Production

DIGEST_FILE = ".weights_digests.json"
"""Per-production memo of weight-file digests (under the renders folder)."""
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MEMO: dict[tuple, str] = {}


def hf_cache_dir() -> Path:
    """The HF hub cache folder as huggingface_hub resolves it, read from the environment now
    (huggingface_hub reads it once at import): HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
    HF_HOME/hub, else its default (~/.cache/huggingface/hub)."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(variable, "").strip()
        if value:
            return Path(value).expanduser()
    home = os.environ.get("HF_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "hub"
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - comes with diffusers
        return Path("~/.cache/huggingface/hub").expanduser()


def hub_snapshot(repo_id: str, revision: str | None = None,
                 cache: Path | None = None) -> tuple[str, Path] | None:
    """(commit, snapshot folder) of a hub model in the local HF cache, or None when the
    revision does not resolve there or its snapshot lacks `model_index.json`. A branch or
    tag resolves through `refs/`; a full commit sha names its snapshot directly."""
    if repo_id.count("/") != 1:
        return None
    repo = (cache or hf_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    wanted = revision or "main"
    ref = repo / "refs" / wanted
    commit: str | None = None
    try:
        if ref.is_file():
            commit = ref.read_text(encoding="utf-8").strip()
        elif COMMIT.match(wanted):
            commit = wanted
    except OSError:
        return None
    if not commit:
        return None
    folder = repo / "snapshots" / commit
    if not (folder / "model_index.json").is_file():
        return None
    return commit, folder


def _weight_files(folder: Path) -> list[Path]:
    """Every file under a model folder that can change its output (sorted; hidden files and
    folders such as `.cache/` and `.git/` left out)."""
    files = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") for p in parts) or not path.is_file():
            continue
        files.append(path)
    return sorted(files)


def _stat_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            sha.update(block)
    return sha.hexdigest()


def folder_digest(folder: Path, memo_file: Path | None = None) -> str:
    """SHA-256 over a model folder's files (relative path and content digest of each), the
    per-file digests memoised in `memo_file` by file identity (see the module docstring).
    An unreadable file is a SoloreelError naming it."""
    try:
        memo: dict[str, Any] = json.loads(memo_file.read_text()) if (
            memo_file is not None and memo_file.is_file()) else {}
    except (OSError, ValueError):
        memo = {}
    if not isinstance(memo, dict):
        memo = {}
    changed = False
    total = hashlib.sha256()
    for path in _weight_files(folder):
        try:
            identity = _stat_key(path)
            key = (str(path), identity)
            digest = _MEMO.get(key)
            record = memo.get(str(path))
            if digest is None and isinstance(record, list) and record[:1] == [identity]:
                digest = str(record[1])
            if digest is None:
                digest = _sha256(path)
                memo[str(path)] = [identity, digest]
                changed = True
            _MEMO[key] = digest
        except OSError as exc:
            raise SoloreelError(f"model weights {path} cannot be read ({exc.strerror or exc}); "
                                "restore the file or fix the model's source in "
                                "soloreel.toml") from exc
        total.update(f"{path.relative_to(folder).as_posix()}\0{digest}\n".encode())
    if changed and memo_file is not None:
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(memo_file, json.dumps(memo, indent=0, sort_keys=True))
        except OSError:  # a read-only renders folder only costs a re-hash next time
            pass
    return total.hexdigest()


def weights_identity(production: Production, name: str | None) -> dict[str, Any] | None:
    """What the weights of model `name` are now, for the final's content hash: `{"commit":
    sha}` for a hub id (None as commit when not in the HF cache), `{"files": sha256}` for a
    local folder, `{"missing": path}` for a folder that is not there (the render says what to
    fix), `{"backend": name}` for a model another backend runs (ComfyUI: its own key), None
    for an unknown model or one without a source."""
    from render_engine.final.registry import _looks_local

    entry = production.settings.models.get(name) if name else None
    if entry is None or not entry.source.strip():
        return None
    if getattr(entry, "backend", "diffusers") != "diffusers":  # weights live on a server
        return {"backend": entry.backend}
    if entry.backend == "comfyui":  # weights on the server: render_engine.comfyui keys them
        return {"backend": "comfyui"}
    candidate = Path(entry.source).expanduser()
    if not candidate.is_absolute():
        candidate = production.root / candidate
    if candidate.exists() or _looks_local(entry.source, production.root):
        if not candidate.is_dir():
            return {"missing": entry.source}
        return {"files": folder_digest(candidate, production.renders_dir() / DIGEST_FILE)}
    found = hub_snapshot(entry.source, entry.revision)
    if found is None and entry.revision and COMMIT.match(entry.revision):
        return {"hub": entry.source, "commit": entry.revision}  # pinned: what will load
    return {"hub": entry.source, "commit": found[0] if found else None}
