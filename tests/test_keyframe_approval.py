"""Keyframes (issue 24): one real frame per shot, approved into the spec, finals start from it.

Tiny random Wan pipelines (tests/final_fixtures.py) rendered on the CPU through the CLI, the
cache and the encoder exactly as a real render would be.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_engine.bible import load_production  # noqa: E402
from render_engine.cli import main  # noqa: E402
from render_engine.final import keyframes  # noqa: E402
from render_engine.final import shot as shot_module  # noqa: E402
from render_engine.final.registry import drop_shared  # noqa: E402
from render_engine.media.encode import probe, read_frames  # noqa: E402
from render_engine.spec import KeyframeSpec, read_spec  # noqa: E402
from render_engine.timeline_io import read_timeline, write_timeline  # noqa: E402
from tests.conftest import make_clip, make_timeline, spec_dict  # noqa: E402
from tests.final_fixtures import build_i2v, build_t2v, build_vace  # noqa: E402

pytestmark = pytest.mark.ml
WIDTH, HEIGHT = 40, 24
"""The final tier's size: not a multiple of 16 (Wan renders 48x32, cropped back)."""
FRAMES, HANDLES = 12, 4
CODEC_TOLERANCE = 6.0
"""Mean absolute difference (0–255) far beyond a lossy encode of these tiny frames: the
encoder alone leaves ≈ 1–5 (measured per test with `_codec_error`)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-wan-kf")
    return {"t2v": build_t2v(root / "t2v"), "vace": build_vace(root / "vace"),
            "i2v": build_i2v(root / "i2v")}


@pytest.fixture(autouse=True)
def _fresh_registry():
    drop_shared()
    yield
    drop_shared()


def _production(root: Path, models: dict[str, Path], model: str = "tiny-t2v") -> Path:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"] = {"width": WIDTH, "height": HEIGHT, "steps": 2, "model": model}
    settings["tiers"]["proxy"] = {"width": WIDTH, "height": HEIGHT}
    settings["models"] = {
        "tiny-t2v": {"source": str(models["t2v"]), "kind": "t2v", "dtype": "float32"},
        "tiny-vace": {"source": str(models["vace"]), "kind": "vace", "dtype": "float32"},
        "tiny-i2v": {"source": str(models["i2v"]), "kind": "i2v", "dtype": "float32"},
    }
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))
    return root


def _edit(root: Path, *specs: dict[str, Any]) -> Path:
    edit = root / "timelines" / "edit.otio"
    write_timeline(make_timeline([make_clip(s, s["shot"]["id"], FRAMES) for s in specs]), edit)
    return edit


def _cli(root: Path, *args: str) -> int:
    return main(["-q", *args, "--production", str(root)])


def _final_reference(edit: Path, number: int = 0) -> dict[str, Any]:
    clip = list(read_timeline(edit).find_clips())[number]
    return dict(clip.media_references()["final"].metadata["soloreel"])


def _media(reference: dict[str, Any], edit: Path, number: int = 0) -> Path:
    clip = list(read_timeline(edit).find_clips())[number]
    return Path(clip.media_references()["final"].target_url.removeprefix("file://"))


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _spec(edit: Path, number: int = 0):
    return read_spec(list(read_timeline(edit).find_clips())[number])


def test_a_keyframe_is_one_frame_at_the_final_size_deterministic_from_the_seed(
        tiny_production: Path, models, monkeypatch) -> None:
    from render_engine.cli.status import shot_states

    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("k-1", dialog=[]), spec_dict("k-2", dialog=[], seed=7))
    seen: list[int] = []
    real = shot_module.render_segment

    def segment(model, plan, inputs, embeds):
        seen.append(inputs.frames)
        return real(model, plan, inputs, embeds)

    monkeypatch.setattr(shot_module, "render_segment", segment)
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe") == 0
    assert seen == [1, 1]  # one Wan frame (one latent frame) per shot
    meta = _final_reference(edit)
    assert meta["quality"] == "keyframe"
    movie = _media(meta, edit)
    manifest_png = movie.parent / "keyframe.png"
    still = _png(manifest_png)
    assert still.shape == (HEIGHT, WIDTH, 3)
    info = probe(movie)
    assert info.frame_count == FRAMES + 2 * HANDLES and (info.width, info.height) == (WIDTH,
                                                                                       HEIGHT)
    frames = np.stack(list(read_frames(movie)))
    assert np.abs(frames[1:].astype(int) - frames[0].astype(int)).max() <= 2  # a held still
    assert [row["final"] for row in shot_states(edit, load_production(root))] == [
        "keyframe", "keyframe"]
    first = manifest_png.read_bytes()
    other = _png(_media(_final_reference(edit, 1), edit, 1).parent / "keyframe.png")
    assert not np.array_equal(still, other)  # another seed, another frame
    # deterministic: the same seed renders the same bytes from an empty cache
    shutil.rmtree(root / "renders" / "final")
    drop_shared()
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe",
                "--shots", "1") == 0
    assert (_media(_final_reference(edit), edit).parent / "keyframe.png").read_bytes() == first


@pytest.mark.parametrize("model", ["tiny-t2v", "tiny-i2v", "tiny-vace"])
def test_an_approved_keyframe_keys_the_final_and_is_its_first_frame(
        tiny_production: Path, models, model: str, monkeypatch) -> None:
    from render_engine.bible import load_production
    from render_engine.final.quality import keyframe_view
    from render_engine.hashing import file_digest, shot_hash

    root = _production(tiny_production, models, model)
    characters = [{"name": "jane", "position": [0.0, 5.0]}]
    edit = _edit(root, spec_dict("a-1", dialog=[], characters=characters))
    assert _cli(root, "render", str(edit), "--tier", "proxy") == 0
    production = load_production(root)
    before = _spec(edit)
    final_before = shot_hash(before, production, "final")
    key_before = shot_hash(before, keyframe_view(production), "final")
    assert _cli(root, "render", str(edit), "--tier", "final", "--quality", "keyframe") == 0
    png = _media(_final_reference(edit), edit).parent / "keyframe.png"
    assert _cli(root, "approve", str(edit), "--shots", "1") == 0
    after = _spec(edit)
    approved = after.render.final.keyframe
    assert approved is not None and approved.sha256 == file_digest(png)
    assert approved.seed == before.seed
    assert (root / "keyframes" / f"{approved.sha256}.png").read_bytes() == png.read_bytes()
    assert shot_hash(after, production, "final") != final_before  # the final is keyed on it
    assert shot_hash(after, keyframe_view(production), "final") == key_before  # not itself

    calls: list[Any] = []
    real = shot_module.render_segment

    def segment(m, plan, inputs, embeds):
        calls.append((plan.anchor, inputs))
        return real(m, plan, inputs, embeds)

    monkeypatch.setattr(shot_module, "render_segment", segment)
    assert _cli(root, "render", str(edit), "--tier", "final") == 0
    meta = _final_reference(edit)
    assert "quality" not in meta
    first = next(iter(read_frames(_media(meta, edit))))
    keyframe = _png(png)
    error = np.abs(first.astype(float) - keyframe.astype(float)).mean()
    codec = _codec_error(production, keyframe, tiny_production / "codec-key.mp4")
    print(f"{model}: final frame 0 vs approved keyframe: mean abs diff {error:.2f} / 255 "
          f"(the encoder alone: {codec:.2f})")
    assert error <= codec + 1.0
    assert all(anchor == approved.sha256 for anchor, _ in calls)
    inputs = calls[0][1]
    if model == "tiny-i2v":  # the approved frame is i2v's image
        assert inputs.keyframe is not None and inputs.keyframe.shape == (32, 48, 3)
        assert np.array_equal(inputs.keyframe[4:28, 4:44], keyframe)
    elif model == "tiny-vace":  # kept by mask 0 as the first control frame of every layer
        assert not inputs.mask[0].any() and inputs.mask[1].any()
    else:  # t2v pins its first latent frame to the approved frame
        assert inputs.overlap is not None and np.array_equal(inputs.overlap[0][4:28, 4:44],
                                                             keyframe)
    # a distinctive approved frame (tiny random models paint nearly flat frames): the final
    # opens on it within codec tolerance, and opens far from it once the approval is lifted
    gradient = _gradient()
    store = root / "keyframes" / "gradient.png"
    from PIL import Image

    Image.fromarray(gradient).save(store)
    sha = keyframes.keep(production, store)
    _set_keyframe(edit, KeyframeSpec(sha256=sha, seed=after.seed))
    assert _cli(root, "render", str(edit), "--tier", "final") == 0
    first = next(iter(read_frames(_media(_final_reference(edit), edit))))
    error = np.abs(first.astype(float) - gradient.astype(float)).mean()
    codec = _codec_error(production, gradient, tiny_production / "codec.mp4")
    print(f"{model}: final frame 0 vs an approved gradient: mean abs diff {error:.2f} / 255 "
          f"(the encoder alone: {codec:.2f})")
    assert error <= codec + 1.0
    assert _cli(root, "approve", str(edit), "--shots", "1", "--clear") == 0
    assert _spec(edit).render.final.keyframe.sha256 is None
    assert sha in [t.sha256 for t in _spec(edit).render.final.keyframe.alternates]
    assert _cli(root, "render", str(edit), "--tier", "final") == 0
    free = next(iter(read_frames(_media(_final_reference(edit), edit))))
    assert np.abs(free.astype(float) - gradient.astype(float)).mean() > 5 * CODEC_TOLERANCE


def _gradient() -> np.ndarray:
    """A WIDTH x HEIGHT picture no tiny model paints: colour ramps and a bright square."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1),
                      255 - x * 255 // (WIDTH - 1)], axis=-1).astype(np.uint8)
    image[6:14, 10:22] = 250
    return image


def _codec_error(production, image: np.ndarray, path: Path) -> float:
    """Mean absolute difference the production's encoder alone leaves on `image` (a movie
    of 5 copies, read back)."""
    from render_engine.media.encode import VideoWriter

    with VideoWriter(path, WIDTH, HEIGHT, 24, profile=production.settings.encode.profile
                     ) as writer:
        for _ in range(5):
            writer.write(image)
    decoded = next(iter(read_frames(path)))
    return float(np.abs(decoded.astype(float) - image.astype(float)).mean())


def _set_keyframe(edit: Path, state) -> None:
    from render_engine.spec import write_spec

    timeline = read_timeline(edit)
    clip = next(iter(timeline.find_clips()))
    spec = read_spec(clip)
    final = spec.render.final.model_copy(update={"keyframe": state})
    write_spec(clip, spec.model_copy(update={"render": spec.render.model_copy(
        update={"final": final})}))
    write_timeline(timeline, edit)


def test_a_retake_keeps_the_keyframe_as_an_alternate_that_can_be_approved_again(
        tiny_production: Path, models, capsys) -> None:
    root = _production(tiny_production, models)
    edit = _edit(root, spec_dict("r-1", dialog=[]))
    keyframe = ["render", str(edit), "--tier", "final", "--quality", "keyframe"]
    assert _cli(root, *keyframe) == 0
    first_png = (_media(_final_reference(edit), edit).parent / "keyframe.png").read_bytes()
    assert _cli(root, "approve", str(edit)) == 0
    approved = _spec(edit).render.final.keyframe
    seed = _spec(edit).seed
    assert _cli(root, "approve", str(edit), "--shots", "r-1", "--retake") == 0
    spec = _spec(edit)
    assert spec.seed != seed and spec.render.final.keyframe.sha256 is None
    assert [(t.sha256, t.seed) for t in spec.render.final.keyframe.alternates] == [
        (approved.sha256, seed)]
    assert _cli(root, *keyframe) == 0  # the new seed's keyframe
    second_png = (_media(_final_reference(edit), edit).parent / "keyframe.png").read_bytes()
    assert second_png != first_png
    capsys.readouterr()
    assert main(["approve", str(edit), "--list", "--production", str(root)]) == 0
    listed = capsys.readouterr().out
    assert f"1: {approved.sha256[:12]} seed {seed}" in listed
    # approving the new one keeps the old listed; re-approving the old brings its seed back
    assert _cli(root, "approve", str(edit)) == 0
    new = _spec(edit).render.final.keyframe
    assert new.sha256 != approved.sha256 and [t.sha256 for t in new.alternates] == [
        approved.sha256]
    assert _cli(root, "approve", str(edit), "--alternate", "1") == 0
    spec = _spec(edit)
    assert (spec.render.final.keyframe.sha256, spec.seed) == (approved.sha256, seed)
    assert [t.sha256 for t in spec.render.final.keyframe.alternates] == [new.sha256]
    # approving a shot without a rendered keyframe names the command that renders it
    assert _cli(root, "approve", str(edit), "--retake") == 0
    assert _cli(root, "approve", str(edit)) == 1
    assert "--quality keyframe" in capsys.readouterr().err


def test_old_specs_keep_their_hashes(tiny_production: Path, models) -> None:
    from render_engine.hashing import hash_inputs
    from render_engine.spec import ShotSpec

    root = _production(tiny_production, models)
    production = load_production(root)
    spec = ShotSpec.model_validate(spec_dict("h-1"))
    assert "keyframe" not in spec.to_metadata()["render"]["final"]
    inputs = hash_inputs(spec, production, "final")
    assert "keyframe" not in inputs["spec"]["render"]["final"]


def test_a_vace_keyframe_takes_more_references_than_latent_frames(tiny_production: Path,
                                                                 models) -> None:
    """One latent frame and two reference images (a layer of two touching characters):
    diffusers' VACE mask padding alone would give 2 mask frames for 3 conditioning frames."""
    from PIL import Image

    from render_engine.final.modes import SegmentInputs, encode_prompts, render_vace
    from render_engine.final.plan import plan_final
    from render_engine.final.quality import keyframe_view
    from render_engine.final.registry import shared_registry
    from render_engine.spec import ShotSpec

    root = _production(tiny_production, models, "tiny-vace")
    production = keyframe_view(load_production(root))
    spec = ShotSpec.model_validate(spec_dict("v-1", dialog=[]))
    plan = plan_final(spec, production)
    assert plan.quality == "keyframe"
    model = shared_registry(production).get(plan.model)
    embeds = encode_prompts(model, "a man", "", plan.guidance)
    control = np.full((plan.height, plan.width, 3), 90, np.uint8)
    refs = [Image.new("RGB", (64, 64), (200, 40, 40)), Image.new("RGB", (64, 64), (40, 200, 40))]
    out = render_vace(model, plan, SegmentInputs(frames=1, seed=3, control=[control],
                                                 references=refs), embeds)
    assert out.shape == (1, plan.height, plan.width, 3)
    assert "prepare_masks" not in vars(model.pipe)  # the workaround is undone after the call
    again = render_vace(model, plan, SegmentInputs(frames=1, seed=3, control=[control],
                                                   references=refs[:1]), embeds)
    assert again.shape == out.shape and not np.array_equal(again, out)
