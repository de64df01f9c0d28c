"""Finals rendered through a ComfyUI server (`backend = "comfyui"`), end to end.

The server is `tests/comfyui_fake_server.FakeComfy`: an in-process HTTP + websocket server
following ComfyUI's `server.py` routes and `execution.py` message order, executing the core
Wan node classes in numpy (see its docstring). Shots are planned and rendered through the
ordinary render path (`render.plan_shot` / `link_plan`), so the cache, manifest and encoder
are the real ones.
"""

from __future__ import annotations

import json
import threading
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

from render_engine.bible import load_production
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.comfyui import backend
from render_engine.comfyui.backend import add_progress_listener, run_prompt
from render_engine.comfyui.check import check_workflow
from render_engine.comfyui.client import ComfyClient, ComfyError
from render_engine.comfyui.workflow import (
    TEMPLATES,
    Values,
    bind,
    load_workflow,
    template_path,
)
from render_engine.media.encode import probe, read_frames
from render_engine.render import link_plan, plan_shot
from render_engine.timeline_io import iter_shots
from tests.comfyui_fake_server import OBJECT_INFO_EXCERPT, FakeComfy
from tests.conftest import make_clip, make_timeline, spec_dict

SIZE = (64, 48)
FRAMES = 12
HANDLES = 4


@pytest.fixture
def comfy():
    server = FakeComfy().start()
    _forget()
    yield server
    server.close()
    _forget()


def _forget() -> None:
    """A new process's view: no /object_info seen or missed yet."""
    backend._SEEN.clear()
    backend._UNREACHABLE.clear()


def _production(root: Path, url: str, workflow: str = "wan_vace_pose_refs.json",
                kind: str = "vace") -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE[0], "height": SIZE[1], "steps": 3,
                                  "model": "studio"}
    settings["models"] = {"studio": {"backend": "comfyui", "url": url, "workflow": workflow,
                                     "kind": kind}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    return root


def _plans(root: Path, specs: list[dict[str, Any]]):
    production = load_production(root)
    assert not production.problems, production.problems
    timeline = make_timeline([make_clip(s, f"SHOT {i}", FRAMES) for i, s in enumerate(specs)])
    cache = RenderCache(production.renders_dir())
    return production, cache, [plan_shot(ref, production, cache, "final")
                               for ref in iter_shots(timeline)]


def _quiet(shot: str = "s-1", **more: Any) -> dict[str, Any]:
    return spec_dict(shot, dialog=[], **more)


def test_templates_match_core_node_definitions() -> None:
    """Every shipped template uses only core classes and inputs of OBJECT_INFO_EXCERPT (read
    from ComfyUI's nodes.py and comfy_extras/*.py), gives every required input, and binds
    prompt, seed, size and output by title."""
    for name in TEMPLATES:
        flow = load_workflow(template_path(name))
        for node_id, node in flow.graph.items():
            spec = OBJECT_INFO_EXCERPT[node["class_type"]]
            known = {**spec.get("required", {}), **spec.get("optional", {})}
            assert set(node["inputs"]) <= set(known), (name, node_id, node["class_type"])
            assert set(spec["required"]) <= set(node["inputs"]), (name, node_id)
        kinds = {slot.kind for slots in flow.slots.values() for slot in slots}
        assert {"prompt", "negative", "seed", "width", "height", "frames", "output"} <= kinds
        assert not flow.unknown
    server = FakeComfy().start()
    try:
        info = ComfyClient(server.url).object_info()
        for name in TEMPLATES:
            report = check_workflow(load_workflow(template_path(name)), info, server.url)
            assert report.ok, (name, report.lines())
    finally:
        server.close()


def test_shot_renders_on_comfyui_into_the_cache(tiny_production: Path, comfy: FakeComfy
                                                ) -> None:
    root = _production(tiny_production, comfy.url)
    events = []
    remove = add_progress_listener(events.append)
    bar = []
    try:
        production, cache, plans = _plans(root, [_quiet()])
        link_plan(plans[0], production, cache, render=True, progress=bar.append)
    finally:
        remove()
    assert plans[0].error is None, plans[0].error
    entry = plans[0].result
    assert entry is not None and entry.tier == "final"
    info = probe(entry.media)
    assert info.frame_count == FRAMES + 2 * HANDLES and (info.width, info.height) == SIZE
    # inputs uploaded and bound by title
    graph = comfy.prompts[-1]
    assert graph["6"]["inputs"]["text"].startswith("JaneTrigger") or (
        "JaneTrigger" in graph["6"]["inputs"]["text"])
    assert graph["13"]["inputs"]["seed"] == 42 and graph["13"]["inputs"]["steps"] == 3
    vace = graph["12"]["inputs"]
    assert (vace["width"], vace["height"]) == SIZE and vace["length"] == 17  # 4k+1 at 16 fps
    pose_name, ref_name = graph["9"]["inputs"]["file"], graph["11"]["inputs"]["image"]
    assert pose_name.startswith("soloreel/s-1-pose_video-") and pose_name in comfy.inputs
    assert ref_name.startswith("soloreel/s-1-reference-jane-") and ref_name in comfy.inputs
    from render_engine.comfyui.backend import decode_frames

    pose = decode_frames(pose_name, comfy.inputs[pose_name])
    assert len(pose) == 17 and pose[0].shape[:2] == (SIZE[1], SIZE[0])
    assert max(int(f.max()) for f in pose) > 100  # skeletons drawn
    ref = decode_frames("r.png", comfy.inputs[ref_name])[0]
    assert (ref[0, 0] == 255).all()  # the cut-out on white
    # no LoRA in this shot: both LoRA loaders bypassed, the model wired straight through
    assert "2" not in graph and "3" not in graph and graph["4"]["inputs"]["model"] == ["1", 0]
    # the frames are the server's: its colour from seed 42, half under the pose video
    colour = np.random.default_rng(42).uniform(0.2, 0.8, 3) * 255
    frames = list(read_frames(entry.media))
    corner = np.median(frames[len(frames) // 2][SIZE[1] // 2:, SIZE[0] // 2:].reshape(-1, 3),
                       axis=0)
    assert np.abs(corner - 0.5 * colour).max() < 14, (corner, colour)
    # the manifest: workflow bytes, node definitions, uploads, outputs
    manifest = entry.manifest
    assert manifest["model"]["backend"] == "comfyui"
    record = manifest["comfyui"]
    assert record["workflow_json"] == template_path("wan_vace_pose_refs.json").read_text()
    assert set(record["object_info"]) == set(load_workflow(
        template_path("wan_vace_pose_refs.json")).classes)
    assert record["uploads"]["pose_video"] == pose_name and record["retries"] == 0
    assert record["outputs"][0].startswith("soloreel/s-1_")
    # progress reached the bar (every frame, once) and the listeners (each sampler step)
    assert sum(bar) == FRAMES + 2 * HANDLES
    steps = [(e.value, e.max) for e in events if e.node_class == "KSampler" and e.value]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert events[-1].fraction == 1.0 and all(e.shot == "s-1" for e in events)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions)
    # cached: planning again finds it, with the server up or off
    assert _plans(root, [_quiet()])[2][0].cached is not None
    comfy.stop()
    _forget()
    assert _plans(root, [_quiet()])[2][0].cached is not None  # the object_info snapshot


def test_workflow_bytes_and_node_versions_key_the_cache(tiny_production: Path,
                                                        comfy: FakeComfy) -> None:
    (tiny_production / "workflows").mkdir()
    path = tiny_production / "workflows" / "mine.json"
    path.write_bytes(template_path("wan_t2v.json").read_bytes())
    root = _production(tiny_production, comfy.url, "workflows/mine.json", kind="t2v")
    first = _plans(root, [_quiet()])[2][0].content_hash
    assert _plans(root, [_quiet()])[2][0].content_hash == first
    flow = json.loads(path.read_text())
    flow["13"]["inputs"]["cfg"] = 5.0
    path.write_text(json.dumps(flow))
    second = _plans(root, [_quiet()])[2][0].content_hash
    assert second != first
    comfy.classes["KSampler"] = {**comfy.classes["KSampler"], "optional": {
        "noise_mode": [["gpu", "cpu"]]}}
    _forget()
    third = _plans(root, [_quiet()])[2][0].content_hash
    assert third not in (first, second)  # the server's KSampler changed
    comfy.models["loras"].append("new_download.safetensors")  # a new file: same key
    _forget()
    assert _plans(root, [_quiet()])[2][0].content_hash == third


def test_execution_error_names_the_shot_and_node(tiny_production: Path,
                                                 comfy: FakeComfy) -> None:
    root = _production(tiny_production, comfy.url)
    comfy.fail_node = "VAEDecode"
    production, cache, plans = _plans(root, [_quiet("s-err")])
    link_plan(plans[0], production, cache, render=True)
    assert plans[0].result is None
    error = str(plans[0].error)
    assert "s-err" in error and "node 15 (VAEDecode)" in error and "out of memory" in error
    assert "Traceback" not in error


def test_check_catches_a_missing_node_class_before_queueing(tiny_production: Path,
                                                            comfy: FakeComfy, capsys) -> None:
    (tiny_production / "workflows").mkdir()
    flow = json.loads(template_path("wan_t2v.json").read_text())
    flow["13"]["class_type"] = "WanVideoSampler"  # ComfyUI-WanVideoWrapper, not installed
    flow["1"]["inputs"]["unet_name"] = "wan2.1_t2v_14B_bf16.safetensors"  # not downloaded
    flow["7"]["_meta"]["title"] = "soloreel:negatve"
    (tiny_production / "workflows" / "wrapper.json").write_text(json.dumps(flow))
    root = _production(tiny_production, comfy.url, "workflows/wrapper.json", kind="t2v")
    code = main(["comfyui", "check", "-p", str(root)])
    out = capsys.readouterr().out
    assert code == 1
    assert "missing node class WanVideoSampler" in out
    assert "wan2.1_t2v_14B_bf16.safetensors" in out and "missing model file" in out
    assert "soloreel:negatve" in out
    production, cache, plans = _plans(root, [_quiet()])
    link_plan(plans[0], production, cache, render=True)
    assert "WanVideoSampler" in str(plans[0].error) and not comfy.prompts  # nothing queued
    edit = root / "timelines" / "edit.otio"
    otio.adapters.write_to_file(make_timeline([make_clip(_quiet(), "A", FRAMES)]), str(edit))
    assert main(["render", str(edit), "--tier", "final", "--dry-run"]) in (0, 1)
    out = capsys.readouterr().out
    assert "error: model" in out and "WanVideoSampler" in out  # the row says why
    assert main(["validate", str(edit)]) == 1
    assert "WanVideoSampler" in capsys.readouterr().out
    flow_ok = tiny_production / "workflows" / "ok.json"
    flow_ok.write_bytes(template_path("wan_t2v.json").read_bytes())
    _production(tiny_production, comfy.url, "workflows/ok.json", kind="t2v")
    assert main(["comfyui", "check", "-p", str(root)]) == 0


def test_ctrl_c_sends_interrupt(comfy: FakeComfy) -> None:
    comfy.step_delay = 0.05
    client = ComfyClient(comfy.url)
    flow = load_workflow(template_path("wan_t2v.json"))
    graph = bind(flow, Values(simple={"seed": 1, "width": 32, "height": 32, "frames": 5,
                                      "steps": 40})).graph

    def progress(prompt_id: str, node: str | None, value: int, top: int, _f: float) -> None:
        if value == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_prompt(client, graph, "shot s-1", progress)
    assert comfy.interrupts == 1
    deadline = threading.Event()
    for _ in range(50):
        if comfy.history:
            break
        deadline.wait(0.05)
    (entry,) = comfy.history.values()
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


def test_server_restart_mid_job_is_retried(tiny_production: Path, comfy: FakeComfy) -> None:
    root = _production(tiny_production, comfy.url)
    comfy.crash_at_step = 1
    production, cache, plans = _plans(root, [_quiet()])
    link_plan(plans[0], production, cache, render=True)
    assert plans[0].error is None, plans[0].error
    assert comfy.restarts == 1 and len(comfy.prompts) == 2  # lost with the restart, re-queued
    assert plans[0].result.manifest["comfyui"]["retries"] == 1
    assert probe(plans[0].result.media).frame_count == FRAMES + 2 * HANDLES


def test_unreachable_server_is_one_clear_error(tiny_production: Path, comfy: FakeComfy,
                                               capsys) -> None:
    root = _production(tiny_production, comfy.url)
    comfy.stop()
    production, cache, plans = _plans(root, [_quiet()])
    link_plan(plans[0], production, cache, render=True)
    error = str(plans[0].error)
    assert comfy.url in error and "models.studio.url" in error
    assert main(["comfyui", "check", "-p", str(root)]) == 1
    assert "is not reachable" in capsys.readouterr().out


def test_audio_template_uploads_each_speakers_lines(tiny_production: Path,
                                                    comfy: FakeComfy) -> None:
    import io
    import wave

    root = _production(tiny_production, comfy.url, "wan_multitalk_audio.json", kind="i2v")
    production, cache, plans = _plans(root, [spec_dict("s-talk")])
    link_plan(plans[0], production, cache, render=True)
    assert plans[0].error is None, plans[0].error
    graph = comfy.prompts[-1]
    name = graph["22"]["inputs"]["audio"]
    assert name.startswith("soloreel/s-talk-audio-jane-")
    with wave.open(io.BytesIO(comfy.inputs[name])) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx((FRAMES + 2 * HANDLES) / 24, abs=0.01)
    assert np.abs(samples).max() > 1000  # jane's line is in it
    assert graph["12"]["inputs"]["audio_encoder_output"] == ["23", 0]


def test_absent_character_slots_leave_the_graph() -> None:
    flow = load_workflow(template_path("wan_vace_pose_refs.json"))
    from tests.comfyui_fake_server import FakeComfy as Server

    info = Server().object_info()
    empty = bind(flow, Values(simple={"seed": 1}), info)
    assert "11" not in empty.graph and "reference_image" not in empty.graph["12"]["inputs"]
    assert empty.graph["4"]["inputs"]["model"] == ["1", 0]
    from render_engine.comfyui.client import FileRef

    two = bind(flow, Values(cast=["jane", "john"], characters={"jane", "john"},
                            loras={"john": ("john.safetensors", 0.7)},
                            files={"reference:jane": FileRef("j.png", "soloreel", "input")}),
               info)
    assert two.graph["11"]["inputs"]["image"] == "soloreel/j.png"
    assert "2" not in two.graph and two.graph["3"]["inputs"]["lora_name"] == "john.safetensors"
    assert two.graph["3"]["inputs"]["strength_model"] == 0.7
    assert two.graph["3"]["inputs"]["model"] == ["1", 0] and "11" in two.graph
    with pytest.raises(ComfyError, match="soloreel:output"):
        graph = json.loads(template_path("wan_t2v.json").read_text())
        graph["17"]["_meta"]["title"] = "Save"
        path = Path(flow.path).parent / "nothing.json"
        bind(load_workflow(_write(path, graph)), Values())


def _write(path: Path, graph: dict[str, Any]) -> Path:
    import tempfile

    target = Path(tempfile.mkdtemp()) / path.name
    target.write_text(json.dumps(graph))
    return target


def test_check_with_an_edit_names_shots_whose_lora_the_server_lacks(
        tiny_production: Path, comfy: FakeComfy, capsys) -> None:
    root = _production(tiny_production, comfy.url)
    (root / "cast" / "jane" / "lora.safetensors").write_bytes(b"not read by the check")
    cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
    cast["lora"] = {"path": "jane/lora.safetensors", "weight": 0.8}
    (root / "cast" / "jane.toml").write_text(tomli_w.dumps(cast))
    edit = root / "timelines" / "edit.otio"
    otio.adapters.write_to_file(make_timeline([
        make_clip(_quiet("s-jane"), "A", FRAMES),
        make_clip(_quiet("s-john", characters=[{"name": "john", "position": [0.5, 3.0]}]),
                  "B", FRAMES)]), str(edit))
    assert main(["comfyui", "check", str(edit)]) == 1
    out = capsys.readouterr().out
    assert "s-jane" in out and "lora.safetensors is not in ComfyUI's loras" in out
    assert "soloreel cast export jane --format comfyui" in out and "s-john" not in out
    comfy.models["loras"].append("lora.safetensors")
    _forget()
    assert main(["comfyui", "check", str(edit)]) == 0


def test_dropped_websocket_resumes_the_running_prompt(comfy: FakeComfy) -> None:
    comfy.step_delay = 0.03
    client = ComfyClient(comfy.url)
    graph = bind(load_workflow(template_path("wan_t2v.json")),
                 Values(simple={"seed": 5, "width": 32, "height": 32, "frames": 5,
                                "steps": 12})).graph
    seen: list[int] = []

    def progress(prompt_id: str, node: str | None, value: int, top: int, _f: float) -> None:
        seen.append(value)
        if value == 3 and seen.count(3) == 1:
            comfy.drop_websockets()

    outcome = run_prompt(client, graph, "shot s-1", progress, poll=0.5)
    assert outcome.retries == 1 and len(comfy.prompts) == 1  # followed again, not re-queued
    assert outcome.history["status"]["status_str"] == "success" and seen[-1] == 1


def test_templates_command_copies_without_overwriting(tiny_production: Path, capsys) -> None:
    (tiny_production / "workflows").mkdir()
    mine = tiny_production / "workflows" / "wan_t2v.json"
    mine.write_text("{}")
    assert main(["comfyui", "templates", "-p", str(tiny_production)]) == 0
    assert mine.read_text() == "{}"
    for name in TEMPLATES[1:]:
        copied = tiny_production / "workflows" / name
        assert copied.read_bytes() == template_path(name).read_bytes()
    assert "kept" in capsys.readouterr().out


def test_an_interpolating_workflow_keeps_the_shots_timing(tiny_production: Path,
                                                          comfy: FakeComfy) -> None:
    """A workflow that doubles its frames (an interpolation custom node) is retimed from its
    own rate: the moving bar is where the plain workflow puts it."""
    comfy.classes["FrameDouble"] = {"required": {"images": ["IMAGE"]}, "output": ["IMAGE"]}
    (tiny_production / "workflows").mkdir()
    plain = json.loads(template_path("wan_t2v.json").read_text())
    doubled = json.loads(json.dumps(plain))
    doubled["30"] = {"class_type": "FrameDouble", "inputs": {"images": ["15", 0]},
                     "_meta": {"title": "RIFE"}}
    doubled["17"]["inputs"]["images"] = ["30", 0]
    results = {}
    for name, graph in (("plain", plain), ("doubled", doubled)):
        (tiny_production / "workflows" / f"{name}.json").write_text(json.dumps(graph))
        root = _production(tiny_production, comfy.url, f"workflows/{name}.json", kind="t2v")
        production, cache, plans = _plans(root, [_quiet(f"s-{name}")])
        link_plan(plans[0], production, cache, render=True)
        assert plans[0].error is None, plans[0].error
        results[name] = (plans[0].result, np.stack(list(read_frames(plans[0].result.media))))
    assert results["plain"][0].manifest["output_fps"] == 16
    assert results["doubled"][0].manifest["comfyui"]["output_frames"] == 33
    assert results["doubled"][0].manifest["output_fps"] == pytest.approx(33 * 16 / 17)
    def bar(frames: np.ndarray) -> np.ndarray:  # the bright bar's centre column per frame
        light = np.clip(frames.astype(float).mean(axis=(1, 3)) - 200, 0, None)
        return (light * np.arange(frames.shape[2])).sum(axis=1) / light.sum(axis=1)

    bars = {name: bar(frames) for name, (_entry, frames) in results.items()}
    assert np.abs(bars["plain"] - bars["doubled"]).max() <= 4, bars  # 16 fps assumed: ~25
    assert bars["plain"][-1] - bars["plain"][0] > SIZE[0] // 2  # it does move
