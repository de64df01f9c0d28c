"""A production you can trust (issue 15): gc never loses linked renders, bad settings and bad
files stop the commands that would use them, empty clips and takes are errors, concurrent and
resumed renders report and clean up honestly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import wave
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
import tomli_w
from PIL import Image

from render_engine.bible import SettingsError, load_production
from render_engine.cache import RenderCache
from render_engine.cli import main
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import REPO, make_clip, make_timeline, spec_dict

CLI = "import sys; from render_engine.cli import main; sys.exit(main(sys.argv[1:]))"


def _edit(path: Path, shots: int = 3, frames: int = 12, seed: int = 42) -> Path:
    clips = [make_clip(spec_dict(f"s-{i}", dialog=[], seed=seed), f"SHOT {i}", frames)
             for i in range(1, shots + 1)]
    write_timeline(make_timeline(clips), path)
    return path


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _media_path(reference: otio.core.MediaReference) -> Path:
    return Path(unquote(urlparse(reference.target_url).path))


def missing_media(edit: Path) -> list[str]:
    """Every media reference of every clip of `edit` whose file does not exist."""
    missing = []
    for clip in read_timeline(edit).find_clips():
        for key, reference in clip.media_references().items():
            if isinstance(reference, otio.schema.ExternalReference) and not _media_path(
                    reference).is_file():
                missing.append(f"{clip.name}:{key}")
        if not isinstance(clip.media_reference, otio.schema.ExternalReference):
            missing.append(f"{clip.name}: no active media")
    return missing


def _age_entries(cache: RenderCache, seconds: float) -> None:
    """Pretend every entry was published `seconds` ago."""
    for entry in cache.all_entries():
        manifest = dict(entry.manifest)
        manifest["created"] = time.time() - seconds
        (entry.folder / "manifest.json").write_text(json.dumps(manifest))


def _settings(root: Path, change) -> None:
    settings = tomllib.loads((root / "soloreel.toml").read_text())
    change(settings)
    (root / "soloreel.toml").write_text(tomli_w.dumps(settings))


# --------------------------------------------------------------------------- 1. gc


def test_gc_keeps_renders_of_an_edit_outside_timelines(tiny_production: Path, capsys) -> None:
    other = _edit(tiny_production / "timelines" / "other.otio", shots=1, seed=7)
    ep = _edit(tiny_production / "ep.otio")  # script2edit … -o ep.otio: the production root
    assert _cli(capsys, "-q", "render", str(ep), "-p", str(tiny_production))[0] == 0
    assert _cli(capsys, "-q", "render", str(other), "-p", str(tiny_production))[0] == 0
    cache = RenderCache(tiny_production / "renders")
    _age_entries(cache, 7200)  # older than the default grace period: only references keep
    code, out, _ = _cli(capsys, "gc", str(tiny_production), "--delete")
    assert code == 0
    assert missing_media(ep) == [] and missing_media(other) == []
    assert len(list(cache.all_entries())) == 4
    assert "read edit ep.otio: 3 shot(s)" in out
    assert "read edit timelines/other.otio: 1 shot(s)" in out


def test_gc_grace_period_and_locks_protect_unreferenced_renders(tiny_production: Path,
                                                                capsys) -> None:
    ep = _edit(tiny_production / "cut" / "ep.otio", shots=2)
    assert _cli(capsys, "-q", "render", str(ep), "-p", str(tiny_production))[0] == 0
    cache = RenderCache(tiny_production / "renders")
    old = {e.hash: e for e in cache.all_entries()}
    _edit(ep, shots=2, seed=99)  # the edit moves on: the first renders are referenced by none
    assert _cli(capsys, "-q", "render", str(ep), "-p", str(tiny_production))[0] == 0
    assert len(list(cache.all_entries())) == 4

    code, out, _ = _cli(capsys, "gc", str(tiny_production), "--delete")  # default grace 1 h
    assert code == 0 and "kept 2 younger than 1h" in out
    assert len(list(cache.all_entries())) == 4

    _age_entries(cache, 2 * 3600)
    locked = next(iter(old.values()))
    with cache.lock(locked.tier, locked.hash):  # someone is rendering that content
        code, out, _ = _cli(capsys, "gc", str(tiny_production), "--delete", "--grace", "1h")
    assert code == 0 and "1 being rendered" in out
    left = {e.hash for e in cache.all_entries()}
    assert locked.hash in left and len(left) == 3
    assert missing_media(ep) == []
    code, out, _ = _cli(capsys, "gc", str(tiny_production), "--delete", "--grace", "30m")
    assert code == 0 and {e.hash for e in cache.all_entries()}.isdisjoint(old)
    assert missing_media(ep) == []


def test_gc_delete_is_refused_while_a_render_holds_the_production_lock(
        tiny_production: Path, capsys) -> None:
    ep = _edit(tiny_production / "ep.otio", shots=2)
    log = tiny_production / "renders.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.render_worker", str(log), "0.15", "--", "-q", "render",
         str(ep), "--production", str(tiny_production)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (log.exists() and log.read_text()) and time.time() < deadline:
            time.sleep(0.05)
        assert log.read_text(), "the render did not start"
        code, out, err = _cli(capsys, "gc", str(tiny_production), "--delete", "--grace", "0")
        assert code == 1 and "a render is running" in err and "--force" in err
        assert "Traceback" not in out + err
        assert _cli(capsys, "gc", str(tiny_production))[0] == 0  # a dry run still reports
        code, out, _ = _cli(capsys, "gc", str(tiny_production), "--delete", "--grace", "0",
                            "--force")
        assert code == 0
    finally:
        assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    assert missing_media(ep) == []
    assert not list((tiny_production / "renders" / ".rendering").glob("*.lock"))


def test_gc_grace_option_is_checked(tiny_production: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["gc", str(tiny_production), "--grace", "soon"])
    assert exit_info.value.code == 2
    assert "is not a duration" in capsys.readouterr().err


# --------------------------------------------------------------------------- 2. settings


def _validate_lines(capsys, edit: Path, root: Path) -> list[str]:
    code, out, _ = _cli(capsys, "validate", str(edit), "-p", str(root))
    assert code == 1
    return [line for line in out.splitlines() if line.startswith("soloreel.toml")]


@pytest.mark.parametrize("change, field", [
    (lambda s: s["tiers"]["proxy"].update(paralax="sharp"), "tiers.proxy.paralax"),
    (lambda s: s["tiers"]["placeholder"].update(width=100000), "tiers.placeholder.width"),
    (lambda s: s["tiers"]["placeholder"].update(height=4322), "tiers.placeholder.height"),
    (lambda s: s["tiers"]["final"].update(width=7682), "tiers.final.width"),
    (lambda s: s["production"].update(fps=121), "production.fps"),
    (lambda s: s["production"].update(fps=0), "production.fps"),
])
def test_bad_settings_stop_every_command_with_the_validate_message(
        tiny_production: Path, capsys, change, field) -> None:
    edit = _edit(tiny_production / "timelines" / "edit.otio", shots=1)
    _settings(tiny_production, change)
    lines = _validate_lines(capsys, edit, tiny_production)
    assert len(lines) == 1 and lines[0].startswith(f"soloreel.toml {field}:")
    for command in (["render"], ["render", "--dry-run"], ["plan"], ["status"]):
        code, out, err = _cli(capsys, command[0], str(edit), "-p", str(tiny_production),
                              *command[1:])
        assert code == 1, command
        assert f"error: {lines[0]}" in err and "Traceback" not in out + err, command
    assert not list((tiny_production / "renders").glob("placeholder/*"))  # nothing rendered
    code, _, err = _cli(capsys, "gc", str(tiny_production))
    assert code == 1 and lines[0] in err
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_production(tiny_production, strict=True)


def test_the_media_linker_refuses_bad_settings(tiny_production: Path) -> None:
    from render_engine.linking import link_clip

    _settings(tiny_production, lambda s: s["production"].update(fps=25, paralax=1))
    clip = make_timeline([make_clip(spec_dict())]).find_clips()[0]
    with pytest.raises(SettingsError, match=r"production\.paralax: unknown field"):
        link_clip(clip, tiny_production)
    assert not clip.media_references() or "placeholder" not in clip.media_references()


def test_good_settings_within_bounds_load(tiny_production: Path) -> None:
    _settings(tiny_production, lambda s: (s["production"].update(fps=120),
                                          s["tiers"]["final"].update(width=7680, height=4320)))
    production = load_production(tiny_production, strict=True)
    assert production.settings.production.fps == 120
    assert production.settings.tier("final").height == 4320


# --------------------------------------------------------------------------- 3. files


def _add_depth_and_mask(root: Path, depth: np.ndarray | None = None,
                        mask_bytes: bytes | None = None) -> None:
    folder = root / "sets" / "yard"
    depth = depth if depth is not None else np.full((90, 160), 5000, np.uint16)
    Image.fromarray(depth).save(folder / "depth.png")
    if mask_bytes is None:
        Image.fromarray(np.zeros((90, 160), np.uint8)).save(folder / "fence.png")
    else:
        (folder / "fence.png").write_bytes(mask_bytes)
    set_toml = root / "sets" / "yard.toml"
    data = tomllib.loads(set_toml.read_text())
    data["plate"]["depth"] = "yard/depth.png"
    data["masks"] = [{"name": "fence", "image": "yard/fence.png", "depth_m": 2.5}]
    set_toml.write_text(tomli_w.dumps(data))


def _problem_lines(capsys, root: Path) -> list[str]:
    edit = _edit(root / "timelines" / "edit.otio", shots=1)
    code, out, _ = _cli(capsys, "validate", str(edit), "-p", str(root))
    assert code == 1, out
    return out.splitlines()


def test_valid_depth_and_mask_validate(tiny_production: Path, capsys) -> None:
    _add_depth_and_mask(tiny_production)
    edit = _edit(tiny_production / "timelines" / "edit.otio", shots=1)
    code, out, _ = _cli(capsys, "validate", str(edit), "-p", str(tiny_production))
    assert code == 0, out


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
     "sets/yard.toml plate.image: sets/yard/plate.png cannot be decoded as an image"),
    (lambda p: p.write_text("this is not a picture"),
     "sets/yard.toml plate.image: sets/yard/plate.png cannot be decoded as an image"),
    (lambda p: p.write_bytes(b""),
     "sets/yard.toml plate.image: sets/yard/plate.png is empty (0 bytes)"),
])
def test_validate_decodes_the_plate(tiny_production: Path, capsys, damage, expected) -> None:
    damage(tiny_production / "sets" / "yard" / "plate.png")
    lines = _problem_lines(capsys, tiny_production)
    assert any(line.startswith(expected) and "re-export it" in line for line in lines), lines


def test_validate_rejects_empty_masks_and_wrong_depth_maps(tiny_production: Path,
                                                           capsys) -> None:
    _add_depth_and_mask(tiny_production, depth=np.full((45, 80), 5000, np.uint16),
                        mask_bytes=b"")
    lines = _problem_lines(capsys, tiny_production)
    assert ("sets/yard.toml plate.depth: depth map sets/yard/depth.png is 80x45, the plate "
            "160x90; they must match; resize it to the plate's size (or re-export both from "
            "the same canvas)") in lines, lines
    assert any(line.startswith("sets/yard.toml masks[0].image: mask sets/yard/fence.png is "
                               "empty (0 bytes)") for line in lines), lines


def test_rgb_depth_maps_fail_validate_and_render_with_the_same_message(
        tiny_production: Path, capsys) -> None:
    _add_depth_and_mask(tiny_production, depth=np.full((90, 160, 3), 40, np.uint8))
    lines = _problem_lines(capsys, tiny_production)
    message = ("plate.depth: depth map sets/yard/depth.png is RGB, 3 channels; it must be one "
               "greyscale channel of millimetres; save it as a 16-bit greyscale PNG")
    assert any(line.startswith("sets/yard.toml " + message) for line in lines), lines
    edit = tiny_production / "timelines" / "edit.otio"
    code, out, err = _cli(capsys, "render", str(edit), "-p", str(tiny_production))
    assert code == 1 and "rendered 0" in out
    assert f"set: sets/yard.toml {message}" in err
    assert not list((tiny_production / "renders").glob("placeholder/*/f*"))


def test_validate_decodes_cast_images_and_reference_voices(tiny_production: Path,
                                                          capsys) -> None:
    (tiny_production / "cast" / "john" / "front.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with wave.open(str(tiny_production / "cast" / "jane" / "ref.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(b"")
    jane = tiny_production / "cast" / "jane.toml"
    jane.write_text(jane.read_text() + '\n[voice]\nreference = "jane/ref.wav"\n')
    lines = _problem_lines(capsys, tiny_production)
    assert any(line.startswith("cast/john.toml views.front.image: cast/john/front.png cannot "
                               "be decoded as an image") for line in lines), lines
    assert any(line.startswith("cast/jane.toml voice.reference: cast/jane/ref.wav holds no "
                               "audio (0 samples); re-export it as a WAV") for line in lines)


# --------------------------------------------------------------------------- 4. empty things


@pytest.mark.parametrize("frames", [0, -5])
def test_clips_without_frames_are_errors_naming_the_clip(tiny_production: Path, capsys,
                                                         frames: int) -> None:
    good = make_clip(spec_dict("s-1", dialog=[]), "GOOD", 12)
    empty = make_clip(spec_dict("s-2", dialog=[]), "EMPTY", 12)
    empty.source_range = otio.opentime.TimeRange(
        empty.source_range.start_time, otio.opentime.RationalTime(frames, 24))
    edit = tiny_production / "timelines" / "edit.otio"
    write_timeline(make_timeline([good, empty]), edit)
    code, out, _ = _cli(capsys, "validate", str(edit), "-p", str(tiny_production))
    assert code == 1
    assert f'shot 2 "EMPTY" @ 01:00:00:12 source_range.duration: {frames} frame(s) at 24 fps; ' \
           "a shot must be at least one frame long" in out
    code, out, err = _cli(capsys, "render", str(edit), "-p", str(tiny_production))
    assert code == 1 and "rendered 1" in out
    assert 'shot 2 "EMPTY"' in err and "source_range.duration" in err
    cache = RenderCache(tiny_production / "renders")
    assert [e.manifest["shot_id"] for e in cache.all_entries()] == ["s-1"]


def _wav(path: Path, samples: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(b"\x01\x00" * samples)
    return path


@pytest.mark.parametrize("samples", [0, 1])
def test_voice_convert_of_an_empty_take_is_an_error(tiny_production: Path, tmp_path: Path,
                                                    capsys, samples: int) -> None:
    take = _wav(tmp_path / "header-only.wav", samples)
    output = tmp_path / "line.wav"
    code, _, err = _cli(capsys, "voice", "convert", "jane", str(take), "-o", str(output),
                        "--production", str(tiny_production))
    assert code == 1
    assert f"header-only.wav: holds {samples} sample(s)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not output.exists() and not output.with_suffix(".json").exists()


# --------------------------------------------------------------------------- 5. concurrency


def test_concurrent_renders_report_honest_counts(tiny_production: Path) -> None:
    edit = _edit(tiny_production / "timelines" / "edit.otio", shots=4, frames=8)
    log = tiny_production / "renders.log"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "tests.render_worker", str(log), "0.02", "--", "render",
         str(edit), "--production", str(tiny_production)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}) for _ in range(2)]
    summaries = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        summaries.append(next(line for line in out.splitlines() if line.startswith("rendered")))
    renders = len(log.read_text().splitlines())
    counts = [(int(s.split()[1].rstrip(",")), int(s.split("cached ")[1].split()[0].rstrip(",")))
              for s in summaries]
    assert renders == 4 and sum(done for done, _ in counts) == renders, summaries
    assert all(done + cached == 4 for done, cached in counts), summaries

def test_a_render_clears_staging_that_killed_renders_left(tiny_production: Path,
                                                         capsys) -> None:
    edit = _edit(tiny_production / "timelines" / "edit.otio", shots=2)
    assert _cli(capsys, "-q", "render", str(edit), "-p", str(tiny_production))[0] == 0
    cache = RenderCache(tiny_production / "renders")
    entries = list(cache.all_entries())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [entries[0].folder.parent / f".tmp-f3590_3610-{dead}-0badf00d",
             cache.hash_dir("placeholder", "0" * 64) / f".tmp-f1_9-{dead}-deadbeef"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "half.mp4").write_bytes(b"partial")
    timeline = read_timeline(edit)  # one shot changes: a resumed render
    meta = dict(timeline.find_clips()[1].metadata[NAMESPACE])
    meta["seed"] = 1234
    timeline.find_clips()[1].metadata[NAMESPACE] = meta
    write_timeline(timeline, edit)
    code, out, _ = _cli(capsys, "render", str(edit), "-p", str(tiny_production))
    assert code == 0 and "rendered 1, cached 1" in out
    assert not list((tiny_production / "renders").glob("*/*/.tmp-*"))
    assert missing_media(edit) == []

