"""Finals through the queue in one process: progress counts the denoising forwards the
dry run's cost model predicts, the model stays loaded across jobs, a job whose shot changed
after it was queued is parked rather than published under a stale hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_engine.cli import main
from render_engine.final.registry import drop_shared
from render_engine.queue.records import DONE, PARKED
from render_engine.queue.runner import JobRenderer
from render_engine.queue.store import JobQueue
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

pytestmark = pytest.mark.ml


@pytest.fixture
def final_production(tiny_production: Path, tmp_path: Path) -> Path:
    from tests.final_fixtures import build_t2v
    from tests.test_final_tier import _production

    models = {"t2v": build_t2v(tmp_path / "models" / "t2v"), "vace": Path("unused"),
              "i2v": Path("unused")}
    root = _production(tiny_production, models)
    clips = [make_clip(spec_dict(f"f-{i}", seed=40 + i), f"F{i}", 12) for i in range(2)]
    write_timeline(make_timeline(clips), root / "timelines" / "edit.otio")
    assert main(["-q", "queue", "add", str(root / "timelines" / "edit.otio"), "--tier",
                 "final", "--production", str(root)]) == 0
    drop_shared()
    yield root
    drop_shared()


def test_final_progress_counts_forwards_and_the_model_loads_once(
        final_production: Path) -> None:
    jobs = JobQueue.of(final_production).jobs()
    assert [j.steps for j in jobs] == [4, 4]  # 2 steps × CFG (cond + uncond)
    renderer = JobRenderer(final_production)
    for job in jobs:
        ticks: list[int] = []
        entry, elsewhere = renderer.render(job, ticks.append)
        assert not elsewhere and entry.tier == "final"
        assert sum(ticks) == job.steps == entry.manifest["cost"]["forwards"]
        assert set(ticks) <= {0, 1} and ticks.count(0) == job.frames  # one check per frame
    assert renderer.model_loads() == {"tiny-t2v": 1}


def test_a_changed_shot_is_parked_not_published(final_production: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    settings = final_production / "soloreel.toml"
    settings.write_text(settings.read_text().replace("steps = 2", "steps = 3"))
    assert main(["-q", "queue", "run", "--tier", "final",
                 "--production", str(final_production)]) == 1
    assert "changed since it was queued" in capsys.readouterr().err
    jobs = JobQueue.of(final_production).jobs()
    assert {j.state for j in jobs} == {PARKED}
    assert not list((final_production / "renders").glob("final/*/f*"))
    # queued again, the new settings render
    assert main(["-q", "queue", "add", str(final_production / "timelines" / "edit.otio"),
                 "--tier", "final", "--production", str(final_production)]) == 0
    assert main(["-q", "queue", "run", "--tier", "final",
                 "--production", str(final_production)]) == 0
    states = [j.state for j in JobQueue.of(final_production).jobs()]
    assert states.count(DONE) == 2 and states.count(PARKED) == 2
