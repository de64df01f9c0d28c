"""The final's content key follows what it is conditioned on (issue 18, item 3), and the
final-tier problems that used to surface late or not at all are reported up front.

No torch here: the proxy renders on the CPU, the final entries are committed by hand (what a
render would commit), and everything is asked through `plan_shot`, `Freshness` and the CLI.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.errors import SoloreelError
from render_engine.freshness import Freshness
from render_engine.hashing import hash_inputs
from render_engine.render import link_plan, plan_shot
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

SIZE = 32


def _settings(root: Path, **final: Any) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2,
                                  "model": "tiny-vace", **final}
    settings["tiers"]["proxy"] = {"width": SIZE, "height": SIZE}
    (root / "models").mkdir(exist_ok=True)
    settings["models"] = {
        "tiny-vace": {"source": "models/vace", "kind": "vace", "dtype": "float32"},
        "tiny-t2v": {"source": "models/t2v", "kind": "t2v", "dtype": "float32"},
    }
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _edit(root: Path, specs: list[dict[str, Any]]) -> Path:
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(s, s["shot"]["id"], 12) for s in specs]), edit)
    return edit


def _plans(root: Path, edit: Path, tier: str):
    production = load_production(root)
    cache = RenderCache(production.renders_dir())
    return production, cache, [plan_shot(ref, production, cache, tier)
                               for ref in iter_shots(read_timeline(edit))]


def _fake_final(production, cache: RenderCache, plan) -> None:
    """Commit what a final render of `plan` would (its media is a stand-in file)."""
    with cache.staging("final", plan.content_hash, plan.first, plan.end) as staged:
        (staged / "shot.mp4").write_bytes(b"final")
        cache.commit("final", plan.content_hash, plan.first, plan.end, staged, "shot.mp4",
                     {"shot_id": plan.spec.shot.id, "media_frames": plan.frames,
                      "inputs": hash_inputs(plan.spec, production, "final"), "fps": 24})


def _proxy(root: Path, edit: Path) -> None:
    production, cache, plans = _plans(root, edit, "proxy")
    for plan in plans:
        link_plan(plan, production, cache, render=True)
        assert plan.result is not None, plan.error or plan.problem


def test_the_final_key_follows_the_approved_proxy(tiny_production: Path, monkeypatch,
                                                  capsys) -> None:
    root = tiny_production
    _settings(root)
    for name in ("vace", "t2v"):  # folders the dry run accepts (nothing loads them here)
        (root / "models" / name).mkdir(parents=True)
        (root / "models" / name / "model_index.json").write_text("{}")
    edit = _edit(root, [spec_dict("v-1", dialog=[]),
                        spec_dict("t-1", dialog=[], render={"final": {"model": "tiny-t2v"}})])
    _p, _c, before = _plans(root, edit, "final")
    vace_drawn, t2v_before = before[0].content_hash, before[1].content_hash
    _proxy(root, edit)

    # hashing never decodes media: it stays cheap however long the proxy is
    import render_engine.media.encode as encode

    def no_decoding(*_args: Any, **_kwargs: Any):
        raise AssertionError("the content hash decoded a movie")

    monkeypatch.setattr(encode, "read_frames", no_decoding)
    production, cache, plans = _plans(root, edit, "final")
    vace_proxy, t2v_after = plans[0].content_hash, plans[1].content_hash
    assert vace_proxy != vace_drawn  # the proxy now exists: the final follows it
    assert t2v_after == t2v_before  # t2v reads no proxy: its key does not move
    assert _plans(root, edit, "final")[2][0].content_hash == vace_proxy  # deterministic
    conditioning = hash_inputs(plans[0].spec, production, "final")["conditioning"]
    assert conditioning["mode"] == "vace_layers"
    assert conditioning["proxy"]["rendered"] is True
    assert conditioning["control"]["body"] == "proxy"
    assert conditioning["references"] == [["jane", ["jane/front.png"]]]

    _fake_final(production, cache, plans[0])
    assert Freshness(production).state(plans[0].ref, "final").state == "fresh"

    # the animatic is approved at another size: the final rendered before is stale now
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["proxy"] = {"width": 48, "height": 32}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production, cache, resized = _plans(root, edit, "final")
    assert resized[0].content_hash != vace_proxy
    assert resized[1].content_hash == t2v_before
    state = Freshness(production).state(resized[0].ref, "final")
    assert state.state == "stale"
    assert "the proxy it follows changed" in state.reason
    monkeypatch.undo()
    from render_engine.cli.status import shot_states

    rows = shot_states(edit, production)
    assert rows[0]["final"] == "stale" and rows[0]["proxy"] == "stale"
    # `plan` shows the key `status` and the dry run judge by; the dry run agrees it is stale
    monkeypatch.setenv("COLUMNS", "250")
    main(["plan", str(edit), "--production", str(root)])
    assert resized[0].content_hash[:8] in capsys.readouterr().out
    main(["render", str(edit), "--tier", "final", "--dry-run", "--production", str(root)])
    assert "stale, render" in capsys.readouterr().out


def test_segmenting_and_retiming_are_part_of_the_final_key(tiny_production: Path,
                                                          monkeypatch) -> None:
    _settings(tiny_production)
    edit = _edit(tiny_production, [spec_dict("v-1", dialog=[])])
    base = _plans(tiny_production, edit, "final")[2][0].content_hash
    monkeypatch.setenv("SOLOREEL_WAN_MAX_FRAMES", "41")
    shorter = _plans(tiny_production, edit, "final")[2][0].content_hash
    monkeypatch.setenv("SOLOREEL_RETIME", "blend")
    blended = _plans(tiny_production, edit, "final")[2][0].content_hash
    assert len({base, shorter, blended}) == 3
    monkeypatch.setenv("SOLOREEL_WAN_MAX_FRAMES", "40")
    plan = _plans(tiny_production, edit, "final")[2][0]
    assert plan.problem and "SOLOREEL_WAN_MAX_FRAMES=40 must be 4k+1" in plan.problem


def test_conditioning_scale_is_keyed_and_planned(tiny_production: Path) -> None:
    from render_engine.final.plan import plan_final

    _settings(tiny_production)
    edit = _edit(tiny_production, [spec_dict("v-1", dialog=[])])
    production, _cache, plans = _plans(tiny_production, edit, "final")
    assert plan_final(plans[0].spec, production).conditioning_scale == 1.0
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["models"]["tiny-vace"]["conditioning_scale"] = 0.6
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production, _cache, scaled = _plans(tiny_production, edit, "final")
    assert plan_final(scaled[0].spec, production).conditioning_scale == 0.6
    assert scaled[0].content_hash != plans[0].content_hash


# --------------------------------------------------------------------------- early problems


def test_a_missing_lora_is_one_clear_line_everywhere(tiny_production: Path, capsys) -> None:
    _settings(tiny_production)
    cast = tomllib.loads((tiny_production / "cast" / "jane.toml").read_text())
    cast["lora"] = {"path": "jane/missing.safetensors", "weight": 1.0}
    (tiny_production / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    edit = _edit(tiny_production, [spec_dict("v-1", dialog=[])])
    production = ["--production", str(tiny_production)]
    for command in (["status", str(edit)], ["plan", str(edit)],
                    ["render", str(edit), "--tier", "final", "--dry-run"],
                    ["render", str(edit), "--tier", "final"]):
        main([*command, *production])
        out = capsys.readouterr()
        text = " ".join((out.out + out.err).split())  # tables wrap lines
        assert "Traceback" not in text and "FileNotFoundError" not in text, command
        if command[0] != "plan":
            assert ("cast.jane.lora.path: cannot read cast/jane/missing.safetensors (no such "
                    "file); restore the file or fix lora.path in cast/jane.toml") in text, command


def test_a_mode_the_model_cannot_render_is_invalid_before_any_work(tiny_production: Path,
                                                                   capsys) -> None:
    from render_engine.final.plan import FinalSpecProblem, plan_final

    _settings(tiny_production)
    (tiny_production / "models" / "t2v").mkdir(parents=True)
    (tiny_production / "models" / "t2v" / "model_index.json").write_text("{}")
    spec = spec_dict("m-1", dialog=[], render={"final": {"model": "tiny-t2v",
                                                         "mode": "vace_layers"}})
    edit = _edit(tiny_production, [spec, spec_dict("ok-1", dialog=[])])
    production, _cache, plans = _plans(tiny_production, edit, "final")
    with pytest.raises(FinalSpecProblem, match='model "tiny-t2v" is of kind t2v'):
        plan_final(plans[0].spec, production)
    assert plans[0].problem and "render.final.mode: vace_layers needs a model of kind vace" \
        in plans[0].problem and "tiny-vace" in plans[0].problem
    assert _plans(tiny_production, edit, "proxy")[2][0].problem is None  # other tiers render
    assert main(["-q", "validate", str(edit)]) == 1
    out = capsys.readouterr().out
    assert "render.final.mode: vace_layers needs a model of kind vace" in out
    # ... and the VACE model's folder is not there: validate and the dry run say so
    assert 'model "tiny-vace": folder' in out and "does not exist" in out
    assert main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(tiny_production)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "vace_layers needs a model of kind vace" in out
    assert 'model "tiny-vace": folder' in out


def test_a_layered_shot_with_a_character_without_views_fails_before_the_gpu(
        tiny_production: Path) -> None:
    _settings(tiny_production)
    (tiny_production / "models" / "vace").mkdir(parents=True)
    (tiny_production / "models" / "vace" / "model_index.json").write_text("{}")
    cast = tomllib.loads((tiny_production / "cast" / "john.toml").read_text())
    cast.pop("views", None)
    (tiny_production / "cast" / "john.toml").write_text(tomli_w.dumps(cast))
    two = spec_dict("two", dialog=[], characters=[{"name": "jane", "position": [-1, 4]},
                                                  {"name": "john", "position": [1, 4]}])
    edit = _edit(tiny_production, [two])
    production, cache, plans = _plans(tiny_production, edit, "final")
    problem = plans[0].problem or ""
    assert 'character "john" has no views' in problem and "cast/john.toml" in problem
    state = Freshness(production).state(plans[0].ref, "final")
    assert state.state == "invalid" and 'character "john" has no views' in state.reason
    link_plan(plans[0], production, cache, render=True)  # nothing loads, nothing denoises
    assert plans[0].result is None and not (production.renders_dir() / "final").exists()


def test_the_prompt_describes_what_the_shot_frames(tiny_production: Path) -> None:
    from render_engine.final.inputs import build_prompt
    from render_engine.final.layers import layer_prompt
    from render_engine.final.plan import plan_final
    from render_engine.render import RenderJob

    _settings(tiny_production)
    for name, description, trigger in (("jane", "a woman in a yellow dress", "JaneTrigger"),
                                       ("john", "a bearded man", "JohnTrigger")):
        cast = tomllib.loads((tiny_production / "cast" / f"{name}.toml").read_text())
        cast.update(description=description, trigger=trigger)
        (tiny_production / "cast" / f"{name}.toml").write_text(tomli_w.dumps(cast))
    single = spec_dict("cu", dialog=[], shot={"id": "cu", "size": "CU", "subjects": ["jane"]},
                       prompt="Jane smiles. John pokes the fire; sparks rise",
                       characters=[{"name": "jane", "position": [0, 3], "action": "sit"},
                                   {"name": "john", "position": [1, 4], "action": "lie"}])
    edit = _edit(tiny_production, [single])
    production, _cache, plans = _plans(tiny_production, edit, "final")
    plan = plans[0]
    job = RenderJob(spec=plan.spec, production=production, tier="final", first=plan.first,
                    end=plan.end, fps=24, width=SIZE, height=SIZE, out_path=Path("/dev/null"),
                    label="cu", shown=plan.shown)
    prompt, _negative = build_prompt(job, plan_final(plan.spec, production))
    assert "siting" not in prompt and "a woman in a yellow dress, sitting" in prompt
    assert prompt.startswith("JaneTrigger,") and "JohnTrigger" not in prompt
    assert "bearded" not in prompt  # john is in the scene, not in this single
    jane, _ = layer_prompt(job, [0])
    john, _ = layer_prompt(job, [1])
    assert "Jane smiles" in jane and "John pokes" not in jane and "sparks" not in jane
    assert "John pokes the fire" in john and "Jane smiles" not in john
    assert "a bearded man, lying down" in john and "yellow" not in john


def test_validate_and_the_shot_error_name_the_env(tiny_production: Path) -> None:
    from render_engine.final.conditioning import max_frames_setting

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOLOREEL_WAN_MAX_FRAMES", "many")
        with pytest.raises(SoloreelError, match="SOLOREEL_WAN_MAX_FRAMES='many'"):
            max_frames_setting()
