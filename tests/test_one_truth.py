"""One truth per question: every tool says the same about a shot's state, its frames and the
finals' GPU cost (issue 16, item 6).

`status`, `status --plot`, the storyboard page, the contact sheet and `preview` ask one function
(`render_engine.freshness`); `render --dry-run`, the storyboard, the contact sheet and the plot
print one GPU estimate (`render_engine.final.cost.final_estimates`). Each test here is one of
the disagreements the issue observed, on a copy of the demo production with tiny CPU tiers.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import opentimelineio as otio
import pytest
import tomli_w

from render_engine.bible import TIERS, load_production
from render_engine.cli import main
from render_engine.cli.status import shot_states
from render_engine.hashing import hash_inputs, shot_hash
from render_engine.review.shots import collect
from render_engine.spec import NAMESPACE, spec_or_error
from render_engine.timeline_io import read_timeline, write_timeline

HANDLES = 12
"""The demo production's handles (frames each side of a cut that a render covers)."""


def _edit(root: Path) -> Path:
    return root / "timelines" / "campfire.otio"


def _settings(root: Path, change) -> None:
    """Rewrite soloreel.toml through `change(settings_dict)`."""
    path = root / "soloreel.toml"
    settings = tomllib.loads(path.read_text())
    change(settings)
    path.write_text(tomli_w.dumps(settings))


def _tiny_tiers(settings: dict) -> None:
    for tier in ("placeholder", "proxy"):
        settings["tiers"][tier].update(width=64, height=36)


@pytest.fixture
def demo(demo_copy: Path) -> Path:
    """The demo production with 64x36 CPU tiers (the final tier keeps its 832x480 plan)."""
    _settings(demo_copy, _tiny_tiers)
    assert load_production(demo_copy).settings.production.handles == HANDLES
    return demo_copy


@pytest.fixture
def rendered(demo: Path) -> Path:
    """`demo` with every placeholder rendered and linked."""
    assert main(["-q", "render", str(_edit(demo)), "--production", str(demo)]) == 0
    return demo


def _lengthen_last_shot(root: Path, frames: int) -> str:
    """Make the last shot `frames` longer at its tail, as `soloreel dialog` does when a line
    needs more time; returns its shot id."""
    timeline = read_timeline(_edit(root))
    clip = [c for c in timeline.find_clips() if NAMESPACE in c.metadata][-1]
    source = clip.source_range
    clip.source_range = otio.opentime.TimeRange(
        source.start_time, otio.opentime.RationalTime(source.duration.value + frames,
                                                      source.duration.rate))
    write_timeline(timeline, _edit(root))
    return spec_or_error(clip).shot.id


def _table_rows(out: str) -> list[list[str]]:
    """The cells of every row of the rich tables in `out` (header rows included)."""
    return [[cell.strip() for cell in line.replace("┃", "│").split("│")[1:-1]]
            for line in out.splitlines() if line.replace("┃", "│").count("│") > 3]


# --------------------------------------------------------------------------- staleness


def _board_states(html: str) -> dict[str, dict[str, str]]:
    """shot id → tier → state, from the storyboard page's badges."""
    states: dict[str, dict[str, str]] = {}
    for panel in re.findall(r'<article class="panel".*?</article>', html, re.S):
        shot = re.search(r'data-shot="([^"]+)"', panel).group(1)
        states[shot] = dict(re.findall(r'<span class="tier \w+"[^>]*>(\w+) (\w+)</span>',
                                       panel))
    return states


def _sheet_states(text: str) -> dict[str, dict[str, str]]:
    """shot id → tier → state, from the contact sheet's caption lines."""
    states: dict[str, dict[str, str]] = {}
    pattern = r"#\d+\s+(s\d\d-\d\d\d).*?placeholder (\w+) · proxy (\w+) · final (\w+)"
    for shot, *found in re.findall(pattern, text, re.S):
        states[shot] = dict(zip(TIERS, found, strict=True))
    return states


def test_status_plot_storyboard_sheet_and_preview_agree_on_a_lengthened_shot(
        rendered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: after `dialog` lengthened a shot past its handles, `status` said stale while
    the plot, the storyboard and the PDF said fresh, and `preview` froze 9 frames silently."""
    monkeypatch.setenv("COLUMNS", "250")
    edit = _edit(rendered)
    stale = _lengthen_last_shot(rendered, HANDLES + 9)  # 9 frames past the tail handle
    production = load_production(rendered)

    rows = {row["id"]: {t: row[t] for t in TIERS} for row in shot_states(edit, production)}
    assert rows[stale]["placeholder"] == "stale"
    assert [r["placeholder"] for s, r in rows.items() if s != stale] == ["fresh"] * 13
    assert main(["status", str(edit), "--production", str(rendered)]) == 0
    assert f"{stale}: placeholder stale: the cut runs 9 frame(s) past its render" in (
        capsys.readouterr().out)

    review = collect(read_timeline(edit), production)  # what the plot draws
    assert {s.shot_id: s.states for s in review.shots} == rows
    assert {s.shot_id: s.best_any for s in review.shots}[stale] == ("placeholder", True)
    plot = tmp_path / "status.png"
    assert main(["-q", "status", str(edit), "--production", str(rendered), "--plot",
                 str(plot)]) == 0
    assert plot.stat().st_size > 0

    board = tmp_path / "board.html"
    assert main(["-q", "storyboard", str(edit), "-o", str(board)]) == 0
    assert _board_states(board.read_text()) == rows

    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (dev extra)")
    sheet = tmp_path / "sheet.pdf"
    assert main(["-q", "storyboard", str(edit), "-o", str(sheet)]) == 0
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(str(sheet)).pages)
    assert _sheet_states(text) == rows

    capsys.readouterr()
    cut = tmp_path / "cut.mp4"
    assert main(["-q", "preview", str(edit), "-o", str(cut), "--tier", "placeholder"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and stale in warnings[0] and "9 frame(s)" in warnings[0]
    refused = tmp_path / "strict.mp4"
    assert main(["-q", "preview", str(edit), "-o", str(refused), "--tier", "placeholder",
                 "--strict"]) == 1
    assert not refused.exists() and stale in capsys.readouterr().err


# --------------------------------------------------------------------------- GPU minutes


def _gpu_total(text: str, before: str) -> float:
    return float(re.search(re.escape(before) + r"\s*([0-9.]+)", text).group(1))


def test_dry_run_storyboard_sheet_and_plot_print_one_gpu_total(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: 30.6 GPU-min in `render --dry-run`, 97.5 in the storyboard and the plot."""
    monkeypatch.setenv("SOLOREEL_GPU", "rtx4090")
    monkeypatch.setenv("COLUMNS", "250")
    edit = _edit(demo)
    assert main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(demo)]) == 0
    dry_run = _gpu_total(capsys.readouterr().out, "total GPU time to render:")
    assert 5 < dry_run < 200  # 14 shots

    board = tmp_path / "board.html"
    assert main(["-q", "storyboard", str(edit), "-o", str(board)]) == 0
    assert _gpu_total(board.read_text(), "finals still to render ≈") == dry_run

    review = collect(read_timeline(edit), load_production(demo))
    assert review.final_minutes == pytest.approx(dry_run, abs=0.05)
    per_shot = sum(s.final_minutes or 0 for s in review.shots)
    assert per_shot == pytest.approx(review.final_minutes)
    assert f"≈ {dry_run:.1f} GPU-min" in review.final_total_text()  # the plot's title

    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (dev extra)")
    sheet = tmp_path / "sheet.pdf"
    assert main(["-q", "storyboard", str(edit), "-o", str(sheet)]) == 0
    text = pypdf.PdfReader(str(sheet)).pages[0].extract_text()
    assert _gpu_total(text, "finals still to render ≈") == dry_run
    plot = tmp_path / "status.pdf"  # the plot as a PDF: its title is text
    assert main(["-q", "status", str(edit), "--production", str(demo), "--plot",
                 str(plot)]) == 0
    title = pypdf.PdfReader(str(plot)).pages[0].extract_text()
    assert f"{dry_run:.1f} GPU-min" in title


def test_final_dry_run_without_a_model_exits_non_zero_naming_the_key(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue: no model configured, and the dry run exited 0 with a total of 0.0 min."""
    def drop_models(settings: dict) -> None:
        settings["tiers"]["final"].pop("model")
        settings.pop("models")

    _settings(demo, drop_models)
    edit = _edit(demo)
    assert main(["render", str(edit), "--tier", "final", "--dry-run", "--production",
                 str(demo)]) == 1
    captured = capsys.readouterr()
    assert "[tiers.final] model" in captured.err and "[models.NAME]" in captured.err
    assert "soloreel.toml" in captured.err
    board = tmp_path / "board.html"
    assert main(["-q", "storyboard", str(edit), "-o", str(board)]) == 0
    assert "no GPU estimate (set [tiers.final] model" in board.read_text()
    assert "0.0 GPU-min" not in board.read_text()


# --------------------------------------------------------------------------- frames


def test_frame_columns_say_whether_handles_are_included(
        demo: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: `plan` showed frames without handles, `--dry-run` with them, unlabelled."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("SOLOREEL_GPU", "rtx4090")
    edit = _edit(demo)
    first = next(c for c in read_timeline(edit).find_clips() if NAMESPACE in c.metadata)
    cut = round(first.source_range.duration.value)
    commands = (["plan"], ["render", "--dry-run"], ["render", "--tier", "proxy", "--dry-run"],
                ["render", "--tier", "final", "--dry-run"])
    for command in commands:
        assert main([command[0], str(edit), *command[1:], "--production", str(demo)]) == 0
        out = capsys.readouterr().out
        header, *rows = _table_rows(out)
        frames, with_handles = header.index("frames"), header.index("frames+handles")
        row = next(r for r in rows if r[1] == "s01-001")
        assert (int(row[frames]), int(row[with_handles])) == (cut, cut + 2 * HANDLES), command
        assert "frames+handles: what a render covers" in out, command


# --------------------------------------------------------------------------- export


def _exported_tiers(path: Path) -> list[str]:
    """The tier folder (renders/<tier>/…) of every exported clip's media, in order."""
    clips = otio.adapters.read_from_file(str(path)).find_clips()
    return [Path(c.media_reference.target_url).parts[-4] for c in clips]


def test_export_tier_chooses_and_reports(rendered: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The issue: `export` had no `--tier` and exported whatever was active (slates after the
    tour's `switch`)."""
    edit = _edit(rendered)
    assert main(["-q", "render", str(edit), "--tier", "proxy", "--shots", "1,2",
                 "--production", str(rendered)]) == 0
    assert main(["-q", "switch", str(edit), "--tier", "placeholder"]) == 0
    capsys.readouterr()

    best = tmp_path / "best.otio"
    assert main(["export", str(edit), "--nle", "kdenlive", "-o", str(best), "--production",
                 str(rendered)]) == 0
    captured = capsys.readouterr()
    assert "(--tier best: proxy 2, placeholder 12)" in captured.out and captured.err == ""
    assert _exported_tiers(best) == ["proxy"] * 2 + ["placeholder"] * 12

    slates = tmp_path / "slates.otio"
    assert main(["export", str(edit), "--nle", "kdenlive", "-o", str(slates), "--tier",
                 "placeholder", "--production", str(rendered)]) == 0
    assert "(--tier placeholder: placeholder 14)" in capsys.readouterr().out
    assert _exported_tiers(slates) == ["placeholder"] * 14


# --------------------------------------------------------------------------- voices


def test_a_voice_change_restales_only_the_shots_where_that_character_speaks(
        demo_copy: Path) -> None:
    """The issue: changing a voice marked shots with no dialog stale."""
    timeline = read_timeline(_edit(demo_copy))
    specs = [s for c in timeline.find_clips() if (s := spec_or_error(c)) is not None]

    def hashes() -> dict[tuple[str, str], str]:
        production = load_production(demo_copy)
        return {(s.shot.id, t): shot_hash(s, production, t) for s in specs for t in TIERS}

    production = load_production(demo_copy)
    speaks = {s.shot.id for s in specs if any(line.speaker == "jane" for line in s.dialog)}
    present = {s.shot.id for s in specs if "jane" in s.character_names()}
    assert speaks and present - speaks  # jane is on screen and silent in some shots
    for spec in specs:  # the voice engine's version stays in the hash of her lines only
        jane = hash_inputs(spec, production, "proxy")["cast"]["jane"]
        assert ("voice_engine" in jane) == ("voice" in jane) == (spec.shot.id in speaks)
    before = hashes()
    path = demo_copy / "cast" / "jane.toml"
    member = tomllib.loads(path.read_text())
    member.setdefault("voice", {})["pitch"] = 71
    path.write_text(tomli_w.dumps(member))
    after = hashes()
    changed = {shot for (shot, _tier), value in after.items() if value != before[shot, _tier]}
    assert changed == speaks
    assert all(after[shot, t] != before[shot, t] for shot in speaks for t in TIERS)
