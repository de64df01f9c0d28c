"""Content hashes: file contents and output-changing fields count; cosmetic ones don't."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tomli_w

from render_engine.bible import load_production
from render_engine.hashing import shot_hash
from render_engine.spec import ShotSpec, read_spec
from tests.conftest import make_clip, save_png, spec_dict


def _hash(root: Path, spec: ShotSpec, tier: str = "proxy") -> str:
    return shot_hash(spec, load_production(root), tier)


def test_reference_image_bytes_change_the_hash(tiny_production: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict())
    before = {t: _hash(tiny_production, spec, t) for t in ("placeholder", "proxy", "final")}
    image = tiny_production / "cast" / "jane" / "front.png"
    stat = image.stat()
    figure = np.zeros((64, 32, 4), np.uint8)
    figure[10:50, 10:20] = (200, 10, 10, 255)
    save_png(image, figure)
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: bytes must count
    after = {t: _hash(tiny_production, spec, t) for t in ("placeholder", "proxy", "final")}
    assert after["proxy"] != before["proxy"]
    assert after["final"] != before["final"]


def test_plate_bytes_change_the_hash(tiny_production: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict())
    before = _hash(tiny_production, spec, "placeholder")
    save_png(tiny_production / "sets" / "yard" / "plate.png", np.zeros((90, 160, 3), np.uint8))
    assert _hash(tiny_production, spec, "placeholder") != before


def test_renaming_or_recolouring_a_clip_keeps_the_hash(tiny_production: Path) -> None:
    clip = make_clip(spec_dict(), name="JANE MCU")
    first = _hash(tiny_production, read_spec(clip))
    clip.name = "JANE MCU (take 2, renamed)"
    clip.metadata["resolve"] = {"color": "Orange"}
    clip.markers.append(__import__("opentimelineio").schema.Marker(name="note"))
    assert _hash(tiny_production, read_spec(clip)) == first


def test_dialog_and_seed_change_the_hash(tiny_production: Path) -> None:
    base = _hash(tiny_production, ShotSpec.model_validate(spec_dict()))
    changed = spec_dict(dialog=[{"speaker": "jane", "text": "Pass the salt."}])
    assert _hash(tiny_production, ShotSpec.model_validate(changed)) != base
    assert _hash(tiny_production, ShotSpec.model_validate(spec_dict(seed=43))) != base


def test_lora_and_final_settings_touch_only_the_final_tier(tiny_production: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict())
    proxy, final = _hash(tiny_production, spec), _hash(tiny_production, spec, "final")
    lora = tiny_production / "cast" / "jane" / "lora" / "v1.safetensors"
    lora.parent.mkdir(parents=True)
    lora.write_bytes(b"not really weights, but bytes that hash")
    toml = tiny_production / "cast" / "jane.toml"
    toml.write_text(toml.read_text() + tomli_w.dumps({"lora": {"path": "jane/lora/v1.safetensors",
                                                               "weight": 0.8}}))
    assert _hash(tiny_production, spec) == proxy
    assert _hash(tiny_production, spec, "final") != final
    steps = ShotSpec.model_validate(spec_dict(render={"final": {"steps": 12}}))
    assert _hash(tiny_production, steps) == proxy


def test_voice_settings_change_every_tier(tiny_production: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict())
    before = _hash(tiny_production, spec, "placeholder")
    toml = tiny_production / "cast" / "jane.toml"
    toml.write_text(toml.read_text() + tomli_w.dumps({"voice": {"pitch": 80}}))
    assert _hash(tiny_production, spec, "placeholder") != before


def test_hash_is_stable_across_loads(tiny_production: Path) -> None:
    spec = ShotSpec.model_validate(spec_dict())
    assert _hash(tiny_production, spec) == _hash(tiny_production, spec)
    assert len(_hash(tiny_production, spec)) == 64


def test_proxy_parallax_keys_only_the_proxy_when_forced(tiny_production: Path) -> None:
    import tomllib

    spec = ShotSpec.model_validate(spec_dict())
    before = {t: _hash(tiny_production, spec, t) for t in ("placeholder", "proxy", "final")}
    toml = tiny_production / "soloreel.toml"
    settings = tomllib.loads(toml.read_text())
    proxy = settings.setdefault("tiers", {}).setdefault("proxy", {"width": 640, "height": 360})
    for value, changes in (("auto", False), ("sharp", True), ("fast", True)):
        proxy["parallax"] = value
        toml.write_text(tomli_w.dumps(settings))
        after = {t: _hash(tiny_production, spec, t) for t in before}
        assert (after["proxy"] != before["proxy"]) is changes, value
        assert after["placeholder"] == before["placeholder"]
        assert after["final"] == before["final"]
