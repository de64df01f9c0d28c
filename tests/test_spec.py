"""ShotSpec: validation, versions and storage on clips."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from render_engine.spec import (
    CURRENT_VERSION,
    NAMESPACE,
    ShotSpec,
    SpecError,
    read_spec,
    upgrade,
)
from tests.conftest import make_clip, spec_dict

V1 = {
    "version": 1,
    "shot": {"id": "ep1-s03-012", "size": "MCU", "angle": "eye",
             "camera": {"move": "push_in", "ease": "in_out", "amount": 0.15}},
    "set": "campfire", "lighting": "night_fire",
    "characters": [{"name": "jane", "position": [0.8, 3.0], "facing": 200,
                    "action": "sit", "expression": "smile", "pose_track": None}],
    "dialog": [{"speaker": "jane", "text": "Pass the marshmallows.", "at": 0.4}],
    "prompt": "", "seed": 1234,
    "render": {"final": {"mode": "vace_layers", "steps": 30}},
}


def test_design_sketch_v1_upgrades_to_current() -> None:
    spec = ShotSpec.model_validate(upgrade(V1))
    assert spec.version == CURRENT_VERSION == 2
    assert spec.camera.move == "push_in" and spec.camera.amount == pytest.approx(0.15)
    assert spec.dialog[0].start == pytest.approx(0.4)
    assert spec.render.final.mode == "vace_layers"
    assert "camera" not in V1["shot"] or V1["shot"]["camera"]  # the input is not mutated


def test_unversioned_metadata_is_read_as_v1() -> None:
    raw = dict(V1)
    raw.pop("version")
    assert ShotSpec.model_validate(upgrade(raw)).dialog[0].start == pytest.approx(0.4)


def test_newer_version_is_refused_with_a_fix() -> None:
    with pytest.raises(SpecError, match="upgrade soloreel"):
        upgrade({**V1, "version": CURRENT_VERSION + 1})


def test_round_trip_through_clip_metadata() -> None:
    clip = make_clip(spec_dict())
    spec = read_spec(clip)
    assert spec is not None and spec.shot.id == "s-001"
    assert read_spec(make_clip(None)) is None
    assert clip.metadata[NAMESPACE]["version"] == CURRENT_VERSION


def test_json_string_metadata_is_accepted_and_malformed_json_named() -> None:
    clip = make_clip(None)
    clip.metadata[NAMESPACE] = json.dumps(spec_dict())
    assert read_spec(clip).shot.id == "s-001"
    clip.metadata[NAMESPACE] = '{"shot": {"id": "x"'
    with pytest.raises(SpecError, match="malformed JSON"):
        read_spec(clip)


@pytest.mark.parametrize("patch", [
    {"seed": "abc"}, {"seed": -1}, {"shot": {"id": "bad id!"}}, {"shot": {"id": "a", "size": "XL"}},
    {"dialog": [{"speaker": "jane", "text": "   "}]}, {"typo_field": 1},
])
def test_invalid_specs_raise(patch: dict) -> None:
    with pytest.raises(ValidationError):
        ShotSpec.model_validate({**spec_dict(), **patch})
