"""Batch order and LoRA adapter residency, as plain data (no torch, nothing loaded)."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.final.adapters import (
    AdapterState,
    loads_in_order,
    order_layers,
    order_renders,
)
from render_engine.final.batch import order_plans, render_sets
from render_engine.final.plan import plan_final
from render_engine.final.quality import DRAFT_ADAPTER, with_quality
from render_engine.render import plan_shot
from render_engine.timeline_io import iter_shots
from tests.conftest import make_clip, make_timeline, spec_dict

JANE = (("jane", "jane.safetensors", 1.0),)
JOHN = (("john", "john.safetensors", 1.0),)
BOTH = JANE + JOHN


def test_resident_adapters_are_reused_and_the_least_recent_is_evicted() -> None:
    state = AdapterState(cap=2)
    assert state.use(JANE).load == [("jane", "jane.safetensors")]
    assert state.use(()).load == [] and state.active == ()  # switched off, still loaded
    assert state.use(JANE).load == []  # back on: no load
    state.use(JOHN)
    assert state.loads == 2 and list(state.resident) == ["jane", "john"]
    third = state.use((("ann", "ann.safetensors", 1.0),))
    assert third.evict == ["jane"]  # least recently used, not needed now
    assert list(state.resident) == ["john", "ann"] and state.evictions == 1
    moved = state.use((("john", "john-v2.safetensors", 1.0),))
    assert moved.evict == ["john"] and moved.load == [("john", "john-v2.safetensors")]
    assert state.use(BOTH).load == [("jane", "jane.safetensors"), ("john", "john.safetensors")]


def test_layers_start_with_what_is_loaded() -> None:
    state = AdapterState(cap=1)
    state.use(JOHN)
    assert order_layers([JANE, JOHN], state) == [1, 0]  # john is resident: render him first
    assert order_layers([JANE, JOHN], AdapterState(cap=1)) == [0, 1]  # a tie keeps the order
    assert order_layers([JANE, (), JANE], AdapterState()) == [1, 0, 2]  # equal sets adjacent


def test_batch_order_needs_fewer_loads_than_the_timeline() -> None:
    # timeline: a two-shot (a layer each for jane and john), john alone, jane alone, then
    # shots on another model
    items = [("vace", [JANE, JOHN]), ("t2v", [JANE]), ("vace", [JOHN]), ("vace", [JANE]),
             ("t2v", [()]), ("t2v", [JANE])]
    order, states = order_renders(items, cap=1)
    # models kept together; john → two-shot (john first) → jane; a shot without LoRAs first
    assert order == [2, 0, 3, 4, 1, 5]
    assert states["vace"].loads == 2 and states["t2v"].loads == 1
    assert loads_in_order(items, order, cap=1) == 3
    naive = sorted(range(len(items)), key=lambda i: (items[i][0] != "vace", i))
    assert loads_in_order(items, naive, cap=1) == 4  # grouped by model, timeline inside


def _production(root: Path, draft: bool = False) -> tuple:
    import tomllib

    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": 32, "height": 32, "steps": 2, "model": "vace"}
    entry = {"source": "x/Wan2.1-VACE-1.3B", "kind": "vace"}
    if draft:
        (root / "models").mkdir()
        (root / "models" / "d.safetensors").write_bytes(b"d")
        entry["draft_lora"] = "models/d.safetensors"
    settings["models"] = {"vace": entry}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    for name in ("jane", "john"):
        (root / "cast" / name / "lora.safetensors").write_bytes(name.encode())
        cast = tomllib.loads((root / "cast" / f"{name}.toml").read_text())
        cast["lora"] = {"path": f"{name}/lora.safetensors"}
        (root / "cast" / f"{name}.toml").write_text(tomli_w.dumps(cast))
    production = load_production(root)
    assert not production.problems
    return production


def test_order_plans_chains_layer_lora_sets(tiny_production: Path, monkeypatch) -> None:
    monkeypatch.setattr("render_engine.final.adapters.MAX_RESIDENT", 1)
    production = _production(tiny_production, draft=True)
    two = spec_dict("two", dialog=[], characters=[{"name": "jane", "position": [-1.6, 5.0]},
                                                  {"name": "john", "position": [1.6, 5.0]}])
    john = spec_dict("john", dialog=[], characters=[{"name": "john", "position": [0, 4.0]}])
    jane = spec_dict("jane", dialog=[])
    timeline = make_timeline([make_clip(s, s["shot"]["id"], 12) for s in (two, john, jane)])
    cache = RenderCache(production.renders_dir())
    plans = [plan_shot(ref, production, cache, "final") for ref in iter_shots(timeline)]
    assert [p.spec.shot.id for p in order_plans(plans, production)] == ["john", "two", "jane"]
    layers = render_sets(plan_final(plans[0].spec, production))
    assert [[a[0] for a in s] for s in layers] == [["jane"], ["john"]]
    drafts = with_quality(production, "draft")
    draft_layers = render_sets(plan_final(plans[0].spec, drafts))
    assert [[a[0] for a in s] for s in draft_layers] == [["jane", DRAFT_ADAPTER],
                                                         ["john", DRAFT_ADAPTER]]
