"""LoRA training and LoRA import on tiny random Wan models (CPU, seconds).

One tiny t2v pipeline is built per module (tests/final_fixtures.py), registered in a tiny
production, and a generated dataset of painted figures (several views, captions) trains on it
at 32×32.
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from render_engine.bible import load_production  # noqa: E402
from render_engine.cache import RenderCache  # noqa: E402
from render_engine.cast.dataset import write_captions  # noqa: E402
from render_engine.cast.lora_io import import_lora, key_format, to_comfyui  # noqa: E402
from render_engine.cast.train import TrainOptions, latest_checkpoint, train_lora  # noqa: E402
from render_engine.cast.workspace import Workspace  # noqa: E402
from render_engine.cli import main  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.plan import plan_final  # noqa: E402
from render_engine.final.registry import ModelRegistry, drop_shared  # noqa: E402
from render_engine.render import RenderJob, plan_shot  # noqa: E402
from render_engine.timeline_io import iter_shots  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import build_lora, build_t2v  # noqa: E402

pytestmark = pytest.mark.ml
SIZE = 32
VIEWS = ("front", "three_quarter", "side", "back")


@pytest.fixture(scope="module")
def tiny_t2v(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny WanPipeline saved once for the module."""
    return build_t2v(tmp_path_factory.mktemp("tiny-wan") / "t2v")


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def paint_dataset(folder: Path, count: int = 6, size: int = 48) -> None:
    """`count` distinct figures (a coloured body and head on a plain ground), views in the
    file names so captions and coverage know them."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = np.full((size, size, 3), 235, np.uint8)
        shift = index * 3
        image[10 + shift % 9:44, 14 + shift:26 + shift] = (200, 60 + 20 * index, 40)
        image[2:12, 16 + shift:24 + shift] = (230, 190, 150)
        Image.fromarray(image).save(folder / f"{VIEWS[index % 4]}-{index:02d}.png")


def production_with_model(root: Path, model: Path) -> Path:
    """Register the tiny model as the final tier's model of the tiny production."""
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": "tiny"}
    settings["models"] = {"tiny": {"source": str(model), "kind": "t2v", "dtype": "float32"}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production = load_production(root)
    workspace = Workspace(production, "jane")
    workspace.ensure()
    paint_dataset(workspace.folder("dataset"))
    write_captions(workspace, "JaneTrigger", "sunflower dress")
    return root


OPTIONS = TrainOptions(steps=30, rank=4, alpha=4.0, learning_rate=5e-3, resolution=SIZE,
                       min_side=16, max_sequence_length=32, seed=3)


def test_training_lowers_the_loss_and_registers_v1(tiny_production, tiny_t2v) -> None:
    root = production_with_model(tiny_production, tiny_t2v)
    options = dataclasses.replace(OPTIONS, fixed_batch=True, batch_size=2)
    started = time.perf_counter()
    result = train_lora(load_production(root), "jane", options)
    seconds = time.perf_counter() - started
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-5:])
    print(f"loss {first:.4f} → {last:.4f} over {len(result.losses)} steps in {seconds:.1f} s")
    assert len(result.losses) == 30 and last < first * 0.9
    assert result.lora == root / "cast" / "jane" / "lora" / "v1.safetensors"
    cast = tomllib.loads((root / "cast" / "jane.toml").read_text())
    assert cast["lora"] == {"path": "jane/lora/v1.safetensors", "weight": 1.0}
    assert cast["trigger"] == "JaneTrigger" and not load_production(root).problems
    from safetensors.torch import load_file

    keys = list(load_file(str(result.lora)))
    assert keys and all(k.startswith("transformer.blocks.") for k in keys)
    assert {k.split(".")[-3] for k in keys} >= {"to_q", "to_k", "to_v"}
    # training saves the ComfyUI copy beside it (every diffusers module, down/up/alpha)
    assert result.comfyui == root / "cast" / "jane" / "lora" / "jane_v1_comfyui.safetensors"
    comfy = list(load_file(str(result.comfyui)))
    assert len(comfy) == len(keys) // 2 * 3
    assert all(k.startswith("diffusion_model.blocks.") for k in comfy)


def _render(root: Path, with_lora: bool) -> np.ndarray:
    production = load_production(root)
    timeline = make_timeline([make_clip(spec_dict("s-1"), "SHOT", 8)])
    cache = RenderCache(production.renders_dir())
    plan = plan_shot(next(iter(iter_shots(timeline))), production, cache, "final")
    settings = production.settings.tier("final")
    job = RenderJob(spec=plan.spec, production=production, tier="final", first=plan.first,
                    end=plan.end, fps=24, width=settings.width, height=settings.height,
                    out_path=root / "out.mp4", label=plan.ref.label, shown=plan.shown)
    final = plan_final(job.spec, production)
    if not with_lora:
        final = dataclasses.replace(final, loras=())
    else:
        assert [u.name for u in final.loras] == ["jane"]
    return shot_module.render_frames(job, final, ModelRegistry(production),
                                     retime_method="blend").frames


def test_trained_lora_loads_by_name_and_changes_the_output_resume_continues(
        tiny_production, tiny_t2v) -> None:
    root = production_with_model(tiny_production, tiny_t2v)
    production = load_production(root)
    short = dataclasses.replace(OPTIONS, steps=6, checkpoint_every=3, sample_every=6,
                                sample_steps=1)
    first = train_lora(production, "jane", short)
    assert first.first_step == 0 and len(first.losses) == 6
    assert latest_checkpoint(Workspace(production, "jane")).name == "step-000006"
    assert first.samples and first.samples[0].is_file()
    resumed = train_lora(load_production(root), "jane", dataclasses.replace(short, steps=10))
    assert resumed.first_step == 6 and len(resumed.losses) == 4
    assert resumed.lora.name == "v2.safetensors"
    straight = train_lora(load_production(root), "jane",
                          dataclasses.replace(short, steps=10), resume=False)
    assert straight.first_step == 0
    np.testing.assert_allclose(resumed.losses, straight.losses[6:], rtol=1e-4)
    plain = _render(root, with_lora=False)
    styled = _render(root, with_lora=True)
    assert not np.array_equal(plain, styled)


def test_comfyui_keyed_lora_imports_and_loads(tiny_production, tiny_t2v, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    root = production_with_model(tiny_production, tiny_t2v)
    native = build_lora(tiny_t2v, tmp_path / "native.safetensors")
    comfy = to_comfyui(load_file(str(native)))
    assert key_format(comfy) == "comfyui"
    assert any(k.endswith(".self_attn.q.lora_down.weight") for k in comfy)
    save_file(comfy, str(tmp_path / "comfy.safetensors"))
    target, kind = import_lora(load_production(root), "jane", tmp_path / "comfy.safetensors")
    assert kind == "comfyui" and target.name == "v1.safetensors"
    imported = load_file(str(target))
    original = load_file(str(native))
    assert set(imported) == set(original)
    for key, value in original.items():
        torch.testing.assert_close(imported[key], value)
    plain = _render(root, with_lora=False)
    assert not np.array_equal(plain, _render(root, with_lora=True))


def test_cli_trains_five_steps(tiny_production, tiny_t2v, capsys) -> None:
    root = production_with_model(tiny_production, tiny_t2v)
    code = main(["cast", "train", "jane", "--steps", "5", "--rank", "4", "--resolution", "32",
                 "--min-side", "16", "--lr", "1e-3", "-p", str(root)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "jane/lora/v1.safetensors: steps 1–5" in out
    assert (root / "cast" / "jane" / "lora" / "checkpoints" / "step-000005").is_dir()
    assert tomllib.loads((root / "cast" / "jane.toml").read_text())["lora"]["path"] == \
        "jane/lora/v1.safetensors"


def test_candidates_from_the_i2v_model_are_seeded_with_provenance(tiny_production,
                                                                  tmp_path) -> None:
    from render_engine.cast.candidates import generate_candidates
    from render_engine.cast.dataset import provenance
    from tests.final_fixtures import build_i2v

    model = build_i2v(tmp_path / "i2v")
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 1, "model": "i2v"}
    settings["models"] = {"i2v": {"source": str(model), "kind": "i2v", "dtype": "float32"}}
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production = load_production(tiny_production)
    Workspace(production, "jane").ensure()
    args = {"views": ["front", "side"], "size": SIZE, "frames": 5}
    assert generate_candidates(production, "jane", **args) == ["c001", "c002"]
    assert generate_candidates(production, "jane", **args) == ["c003", "c004"]
    workspace = Workspace(production, "jane")
    folder = workspace.folder("candidates")
    for a, b in (("c001", "c003"), ("c002", "c004")):
        assert np.array_equal(np.asarray(Image.open(folder / f"{a}.png")),
                              np.asarray(Image.open(folder / f"{b}.png")))
    meta = provenance(workspace, "c002")
    assert meta["mode"] == "i2v-turnaround" and meta["view"] == "side"
    assert meta["model"] == "i2v" and meta["prompt"].startswith("JaneTrigger")
    assert meta["seed"] != provenance(workspace, "c001")["seed"]


def test_vace_candidates_are_driven_by_the_views_pose(tiny_production, tmp_path,
                                                      monkeypatch) -> None:
    from render_engine.cast import candidates as candidates_module
    from render_engine.cast.dataset import provenance
    from render_engine.final.registry import shared_registry
    from tests.final_fixtures import build_vace

    model = build_vace(tmp_path / "vace")
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 1, "model": "vace"}
    settings["models"] = {"vace": {"source": str(model), "kind": "vace", "dtype": "float32"}}
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production = load_production(tiny_production)
    Workspace(production, "jane").ensure()
    pipe = shared_registry(production).get("vace").pipe
    seen: list[list[Image.Image]] = []
    original = type(pipe).__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs["video"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    ids = candidates_module.generate_candidates(
        production, "jane", views=["front", "back"], size=SIZE, frames=5)
    assert len(ids) == 2 and len(seen) == 2
    for view, video in zip(("front", "back"), seen, strict=True):
        expected = candidates_module.pose_controls(view, SIZE, 5)
        assert [np.asarray(f).tolist() for f in video] == [
            np.asarray(f).tolist() for f in expected]
        assert np.asarray(video[0]).max() > 0  # a skeleton, not an empty control
    front, back = (np.asarray(v[0]).astype(int) for v in seen)
    assert not np.array_equal(front, back)  # the back view hides the face keypoints
    assert provenance(Workspace(production, "jane"), ids[0])["mode"] == "vace-reference-pose"


def test_pose_controls_show_each_view() -> None:
    from render_engine.cast.candidates import VIEW_POSES, pose_controls

    widths = {}
    for view in VIEW_POSES:
        frame = np.asarray(pose_controls(view, 64, 1)[0])
        drawn = frame.max(axis=2) > 0
        assert drawn.any(), view
        columns = np.flatnonzero(drawn.any(axis=0))
        widths[view] = columns.max() - columns.min()
    assert widths["side"] < widths["front"]  # a profile is narrower than a front view


@pytest.mark.parametrize("base_dtype", ["fp8", "bfloat16"])
def test_reduced_precision_bases_train_and_sample(tiny_production, tiny_t2v, base_dtype,
                                                  monkeypatch) -> None:
    """`--base-dtype fp8` crashed at step 1 (an fp32 patch embedding fed bf16 layers): the
    frozen base is bf16 with its linears stored in fp8, the LoRA trains in fp32."""
    from render_engine.cast import train as train_module

    root = production_with_model(tiny_production, tiny_t2v)
    options = dataclasses.replace(OPTIONS, steps=6, fixed_batch=True, base_dtype=base_dtype,
                                  sample_every=6, sample_steps=1)
    seen = {}
    real = train_module.add_lora

    def spy(transformer, opts):
        params = real(transformer, opts)
        seen["base"] = transformer.blocks[0].ffn.net[2].weight.dtype
        seen["compute"] = train_module.compute_dtype(transformer)
        seen["lora"] = {p.dtype for p in params}
        return params

    monkeypatch.setattr(train_module, "add_lora", spy)
    result = train_module.train_lora(load_production(root), "jane", options)
    expected = torch.float8_e4m3fn if base_dtype == "fp8" else torch.bfloat16
    assert seen == {"base": expected, "compute": torch.bfloat16, "lora": {torch.float32}}
    assert len(result.losses) == 6 and all(np.isfinite(result.losses))
    assert result.losses[-1] < result.losses[0]
    assert result.samples and np.asarray(Image.open(result.samples[0])).std() > 0
    from safetensors.torch import load_file

    saved = load_file(str(result.lora))
    assert saved and {v.dtype for v in saved.values()} == {torch.float32}


def _figure_aspect(image: Image.Image, background: int = 255) -> float:
    """Height / width of the figure (pixels far from the background grey) in an image."""
    array = np.asarray(image.convert("RGB")).astype(int)
    figure = (np.abs(array - background).sum(axis=2) > 120)
    rows, columns = np.flatnonzero(figure.any(axis=1)), np.flatnonzero(figure.any(axis=0))
    return (rows.max() - rows.min() + 1) / (columns.max() - columns.min() + 1)


def test_fit_square_keeps_the_aspect_and_pads_with_the_background() -> None:
    from render_engine.cast.candidates import fit_square

    tall = np.full((64, 32, 3), 200, np.uint8)
    tall[8:60, 8:24] = (30, 90, 160)
    fitted = fit_square(Image.fromarray(tall), 32)
    assert fitted.size == (32, 32)
    assert _figure_aspect(fitted, background=200) == pytest.approx(52 / 16, rel=0.15)
    assert (np.asarray(fitted)[:, :6] == 200).all()  # padded with the grey background


@pytest.mark.parametrize("kind", ["v2v", "i2v"])
def test_candidates_from_v2v_and_i2v_models_start_from_the_unsquashed_source(
        tiny_production, tmp_path, kind, monkeypatch) -> None:
    """v2v candidates passed `num_frames` to WanVideoToVideoPipeline (TypeError), and the
    source was resized to a square, squashing the figure."""
    from render_engine.cast import candidates as candidates_module
    from render_engine.cast.dataset import provenance
    from render_engine.final.registry import shared_registry
    from tests.final_fixtures import build_i2v

    model = build_i2v(tmp_path / "i2v") if kind == "i2v" else build_t2v(tmp_path / "t2v")
    settings = tomllib.loads((tiny_production / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": SIZE, "height": SIZE, "steps": 2, "model": "m"}
    settings["models"] = {"m": {"source": str(model), "kind": kind, "dtype": "float32"}}
    (tiny_production / "soloreel.toml").write_text(tomli_w.dumps(settings))
    production = load_production(tiny_production)
    Workspace(production, "jane").ensure()
    pipe = shared_registry(production).get("m").pipe
    seen: list = []
    original = type(pipe).__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    ids = candidates_module.generate_candidates(production, "jane", views=["front"],
                                                size=SIZE, frames=5)
    assert len(ids) == 1 and len(seen) == 1
    start = seen[0]["video"][0] if kind == "v2v" else seen[0]["image"]
    assert start.size == (SIZE, SIZE)
    # jane's cut-out is 16×52 px: its aspect survives (a squash made it 26/16)
    assert _figure_aspect(start) == pytest.approx(52 / 16, rel=0.15)
    meta = provenance(Workspace(production, "jane"), ids[0])
    assert meta["mode"] == ("v2v-restyle" if kind == "v2v" else "i2v-turnaround")
    picture = np.asarray(Image.open(Workspace(production, "jane").folder("candidates")
                                    / f"{ids[0]}.png"))
    assert picture.shape == (SIZE, SIZE, 3) and picture.std() > 0
