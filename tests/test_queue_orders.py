"""NLE orders feed the render queue: a `final` marker queues the shot's final on import (once,
however often the edit is imported), a `retake` of a shot whose final was asked for queues
the new take's final; a production without a final model says what to set."""

from __future__ import annotations

import tomllib
from pathlib import Path

import opentimelineio as otio
import pytest
import tomli_w

from render_engine.cli import main
from render_engine.queue.records import PENDING
from render_engine.queue.store import JobQueue
from tests.nle_fixtures import RT, TR, our_plugins  # noqa: F401 - fixture
from tests.test_nle_identity import _edit, _export

pytestmark = pytest.mark.usefixtures("our_plugins")


def _with_model(root: Path) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    settings["tiers"]["final"]["model"] = "wan"
    settings["models"] = {"wan": {"source": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "kind": "t2v",
                                  "revision": "0" * 40}}
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


def _import_with_markers(root: Path, tmp_path: Path, markers: dict[int, str],
                         name: str) -> tuple[int, str]:
    edit = root / "timelines" / "edit.otio"
    exported = tmp_path / f"{name}.otio"
    _export(edit, root, "resolve", exported)
    timeline = otio.adapters.read_from_file(str(exported))
    for index, text in markers.items():
        clip = timeline.find_clips()[index]
        clip.markers.append(otio.schema.Marker(
            name=text, marked_range=TR(clip.source_range.start_time, RT(0, 24))))
    back = tmp_path / f"{name}.back.otio"
    otio.adapters.write_to_file(timeline, str(back))
    code = main(["import", str(back), "-o", str(edit), "--no-render",
                 "--production", str(root)])
    return code, str(back)


def test_final_and_retake_markers_add_final_jobs(tiny_production: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    _with_model(tiny_production)
    _edit(tiny_production, shots=3)
    code, _back = _import_with_markers(tiny_production, tmp_path, {1: "final"}, "a")
    assert code == 0
    out = capsys.readouterr().out
    assert "s-2: final added in the render queue" in out
    jobs = JobQueue.of(tiny_production).jobs()
    assert [(j.shot_id, j.tier, j.state, j.model) for j in jobs] == [
        ("s-2", "final", PENDING, "wan")]
    assert jobs[0].estimate_s > 0  # the dry run's cost model
    # a retake of the queued shot: a new seed, a new render, a second job
    code, _back = _import_with_markers(tiny_production, tmp_path, {1: "retake"}, "b")
    assert code == 0
    jobs = JobQueue.of(tiny_production).jobs()
    assert [j.shot_id for j in jobs] == ["s-2", "s-2"]
    assert jobs[0].spec["seed"] != jobs[1].spec["seed"]
    assert jobs[0].content_hash != jobs[1].content_hash


def test_without_a_final_model_the_import_says_what_to_set(
        tiny_production: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _edit(tiny_production, shots=2)
    code, _back = _import_with_markers(tiny_production, tmp_path, {0: "final"}, "a")
    assert code == 0  # the import itself worked
    out = capsys.readouterr().out
    assert "final not queued" in out and "model" in out
    assert JobQueue.of(tiny_production).jobs() == []
