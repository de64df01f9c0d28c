"""Shots rendered in worker processes (`render --jobs N`) give the very files, links, error
slates and exit codes that rendering them one by one in the caller gives."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from render_engine import render_pool
from render_engine.cli import main
from render_engine.render_pool import default_jobs
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import iter_shots, read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict
from tests.proxy_fixtures import make_cutout_production


def _linked(edit: Path) -> dict[str, tuple[str, str]]:
    """Per clip: (active tier, sha256 of its active media, or the error it shows)."""
    found = {}
    for ref in iter_shots(read_timeline(edit)):
        reference = ref.clip.media_reference
        meta = dict(reference.metadata.get(NAMESPACE, {}))
        if "error" in meta:
            found[ref.clip.name] = (ref.clip.active_media_reference_key, "error: "
                                    + meta["error"].split(";")[0])
            continue
        if not hasattr(reference, "target_url"):  # an invalid shot: nothing linked
            found[ref.clip.name] = ("", "nothing")
            continue
        path = Path(reference.target_url.removeprefix("file://"))
        found[ref.clip.name] = (ref.clip.active_media_reference_key,
                                hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _render(production: Path, tier: str, jobs: int, capsys: pytest.CaptureFixture) -> tuple[
        int, dict[str, tuple[str, str]], str]:
    edit = production / "timelines" / "edit.otio"
    code = main(["-q", "render", str(edit), "--tier", tier, "-j", str(jobs),
                 "--production", str(production)])
    return code, _linked(edit), capsys.readouterr().err


def test_placeholders_in_workers_are_the_files_rendered_in_line(
        tiny_production: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from render_engine.tiers import placeholder

    real = placeholder.render

    def failing(job):  # forked workers inherit the patch
        if job.spec.shot.id == "s-4":
            raise RuntimeError("the encoder caught fire")
        return real(job)

    monkeypatch.setattr(placeholder, "render", failing)
    monkeypatch.setattr(render_pool, "_start_method", lambda: "fork")  # children see the patch
    clips = [make_clip(spec_dict(f"s-{i}") if i % 2 == 0 else spec_dict(f"s-{i}", dialog=[]),
                       f"SHOT {i}", 24 + 6 * i) for i in range(1, 6)]
    clips[2] = make_clip(spec_dict("s-3", plate="sets/yard/missing.png"), "SHOT 3", 24)
    write_timeline(make_timeline(clips), tiny_production / "timelines" / "edit.otio")
    copy = tmp_path / "copy"
    shutil.copytree(tiny_production, copy)
    in_line = _render(tiny_production, "placeholder", 1, capsys)
    pooled = _render(copy, "placeholder", 3, capsys)
    assert in_line[0] == pooled[0] == 1  # shot 3 invalid, shot 4 failed: in both
    assert in_line[1] == pooled[1]
    assert pooled[1]["SHOT 3"] == ("", "nothing") and "missing.png" in pooled[2]
    assert pooled[1]["SHOT 4"] == ("placeholder", "error: RuntimeError: the encoder caught "
                                   "fire")
    assert "the encoder caught fire" in pooled[2]
    assert sum(1 for _tier, media in pooled[1].values() if len(media) == 64) == 3
    again = _render(copy, "placeholder", 3, capsys)  # everything cached now but the failure
    assert again[1] == pooled[1]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_proxies_with_speech_in_workers_are_the_files_rendered_in_line(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        method: str) -> None:
    monkeypatch.setattr(render_pool, "_start_method", lambda: method)
    root = make_cutout_production(tmp_path / "a", 160, 90)
    specs = []
    for index, text in enumerate(["Pass the marshmallows.", "Last two.", "Make them count."]):
        specs.append(spec_dict(
            f"p-{index}", shot={"id": f"p-{index}", "size": "MS", "subjects": ["ana"]},
            characters=[{"name": "ana", "position": [0.4, 3.5], "facing": 220,
                         "action": "talk"}],
            dialog=[{"speaker": "ana", "text": text, "start": 0.1}], seed=9))
    clips = [make_clip(spec, f"P{index}", 30) for index, spec in enumerate(specs)]
    write_timeline(make_timeline(clips), root / "timelines" / "edit.otio")
    copy = tmp_path / "b"
    shutil.copytree(root, copy)
    in_line = _render(root, "proxy", 1, capsys)
    pooled = _render(copy, "proxy", 2, capsys)
    assert in_line[0] == pooled[0] == 0, pooled[2]
    assert in_line[1] == pooled[1]
    assert all(tier == "proxy" for tier, _media in pooled[1].values())


def test_how_many_workers(monkeypatch: pytest.MonkeyPatch, tiny_production: Path,
                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("SOLOREEL_JOBS", raising=False)
    assert default_jobs("final") == 1
    assert 1 <= default_jobs("placeholder") == default_jobs("proxy") <= 8
    monkeypatch.setenv("SOLOREEL_JOBS", "3")
    assert default_jobs("proxy") == 3 and default_jobs("final") == 1
    monkeypatch.setenv("SOLOREEL_JOBS", "lots")
    write_timeline(make_timeline([make_clip(spec_dict("s-1"), "SHOT 1")]),
                   tiny_production / "timelines" / "edit.otio")
    code = main(["-q", "render", str(tiny_production / "timelines" / "edit.otio"),
                 "--production", str(tiny_production)])
    assert code != 0 and 'SOLOREEL_JOBS="lots"' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", "x.otio", "-j", "0"])
