"""A final keys on the weights its model entry names now (issue 18, item 6: hub models can
drift while finals stay fresh): a hub id on the commit its HF-cache snapshot resolves to, a
local folder on its files' bytes. Offline, with a fake HF cache laid out the way
huggingface_hub writes it; no torch."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.final.weights import DIGEST_FILE, hub_snapshot, weights_identity
from render_engine.hashing import shot_hash
from render_engine.spec import ShotSpec
from tests.conftest import spec_dict

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def _snapshot(cache: Path, repo: str, commit: str, ref: str | None = "main") -> Path:
    """models--org--name/{refs/<ref>, snapshots/<commit>/model_index.json + a weight}."""
    root = cache / ("models--" + repo.replace("/", "--"))
    folder = root / "snapshots" / commit
    (folder / "transformer").mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(
        commit.encode())
    if ref:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return folder


def _with_model(root: Path, source: str, revision: str | None = None) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": 32, "height": 32, "model": "wan"}
    entry = {"source": source, "kind": "t2v"}
    if revision:
        entry["revision"] = revision
    settings["models"] = {"wan": entry}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _final_hash(root: Path) -> str:
    spec = ShotSpec.model_validate(spec_dict("w-1", dialog=[]))
    return shot_hash(spec, load_production(root), "final")


def test_a_hub_model_keys_on_the_commit_its_cache_resolves(tiny_production, tmp_path,
                                                           monkeypatch) -> None:
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _snapshot(cache, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", COMMIT_A)
    _with_model(tiny_production, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    production = load_production(tiny_production)
    assert weights_identity(production, "wan") == {
        "hub": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "commit": COMMIT_A}
    before = _final_hash(tiny_production)
    assert _final_hash(tiny_production) == before  # stable while the cache is
    # the hub's main moved: a new snapshot, refs/main updated → every final is stale
    _snapshot(cache, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", COMMIT_B)
    after = _final_hash(tiny_production)
    assert after != before
    # a pinned revision keys on its own commit, whatever main says
    _with_model(tiny_production, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", revision=COMMIT_A)
    assert weights_identity(load_production(tiny_production), "wan")["commit"] == COMMIT_A


def test_a_revision_resolves_through_refs_or_names_its_snapshot(tmp_path) -> None:
    cache = tmp_path / "hf"
    folder = _snapshot(cache, "org/model", COMMIT_A, ref="v1")
    assert hub_snapshot("org/model", "v1", cache) == (COMMIT_A, folder)
    assert hub_snapshot("org/model", COMMIT_A, cache) == (COMMIT_A, folder)
    assert hub_snapshot("org/model", None, cache) is None  # no refs/main
    assert hub_snapshot("org/other", None, cache) is None


def test_a_model_not_in_the_cache_keys_as_uncached(tiny_production, tmp_path,
                                                   monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    _with_model(tiny_production, "org/model")
    assert weights_identity(load_production(tiny_production), "wan") == {
        "hub": "org/model", "commit": None}
    _with_model(tiny_production, "org/model", revision=COMMIT_B)  # pinned: known already
    assert weights_identity(load_production(tiny_production), "wan")["commit"] == COMMIT_B


def test_the_registry_loads_the_snapshot_the_key_names(tiny_production, tmp_path,
                                                      monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from render_engine.final.registry import ModelRegistry
    from tests.final_fixtures import build_t2v

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _snapshot(cache, "org/tiny-wan", COMMIT_A)
    build_t2v(folder)  # the snapshot holds a real (tiny) pipeline
    _with_model(tiny_production, "org/tiny-wan")
    model = ModelRegistry(load_production(tiny_production), device="cpu").get("wan")
    assert model.commit == COMMIT_A
    assert model.pipe.transformer.config.num_layers == 2


def test_a_local_folder_keys_on_its_files_bytes(tiny_production) -> None:
    folder = tiny_production / "models" / "wan"
    (folder / "transformer").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"weights v1")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("x")
    _with_model(tiny_production, "./models/wan")
    before = _final_hash(tiny_production)
    # the digests are memoised on disk by file identity
    memo = tiny_production / "renders" / DIGEST_FILE
    assert memo.is_file() and str(weights) in memo.read_text()
    (folder / ".cache" / "lock").write_text("y")  # hidden: not the weights
    assert _final_hash(tiny_production) == before
    weights.write_bytes(b"weights v2")  # a fine-tune saved over the folder
    assert _final_hash(tiny_production) != before


@pytest.mark.parametrize("source", ["./models/none"])
def test_a_missing_folder_still_hashes(tiny_production, source) -> None:
    _with_model(tiny_production, source)
    assert weights_identity(load_production(tiny_production), "wan") == {"missing": source}
