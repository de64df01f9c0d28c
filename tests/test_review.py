"""Review before you render: preview movie, storyboard page (in a real browser), contact
sheet, status plot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import opentimelineio as otio
import pytest

from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.media.encode import AUDIO_RATE, VideoWriter, probe, read_audio, read_frames
from render_engine.review.shots import collect
from render_engine.spec import NAMESPACE
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

FPS = 24
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]


def _keep(path: Path, name: str | None = None) -> None:
    """Copy a picture a person should look at into $SOLOREEL_REVIEW_ARTIFACTS, when set."""
    folder = os.environ.get("SOLOREEL_REVIEW_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / (name or path.name))


# --------------------------------------------------------------------------- preview


def _sample(frame: float) -> int:
    return round(frame * AUDIO_RATE / FPS)


def _clicked_movie(path: Path, frames: int, color: tuple[int, int, int],
                   clicks: list[int]) -> None:
    """A solid-colour 160x90 movie with a 2 ms click at the start of each frame in `clicks`."""
    audio = np.zeros(_sample(frames), np.float32)
    for frame in clicks:
        audio[_sample(frame):_sample(frame) + 96] = 0.9
    with VideoWriter(path, 160, 90, FPS, audio=(audio, AUDIO_RATE)) as writer:
        for _ in range(frames):
            writer.write(np.full((90, 160, 3), color, np.uint8))


def _onsets(samples: np.ndarray, threshold: float = 0.3) -> list[int]:
    """Sample indices where the signal first rises above `threshold` after 10 ms of quiet."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    onsets: list[int] = []
    for index in loud:
        if not onsets or index - onsets[-1] > AUDIO_RATE // 100:
            onsets.append(int(index))
    return onsets


def test_preview_has_exact_length_audio_in_sync_and_marks_fallbacks(tiny_production,
                                                                    tmp_path) -> None:
    handles = 4
    cuts = [(25, (200, 30, 30), "placeholder", [3, 20]),
            (31, (30, 200, 30), "proxy", [0, 17]),
            (19, (30, 30, 200), "placeholder", [11])]
    clips, expected, record = [], [], 0
    for number, (frames, color, tier, clicks) in enumerate(cuts, start=1):
        media = tmp_path / "media" / f"shot{number}.mp4"
        media.parent.mkdir(exist_ok=True)
        # a click inside each head handle must not reach the preview
        _clicked_movie(media, frames + 2 * handles, color,
                       [1] + [c + handles for c in clicks])
        clip = make_clip(spec_dict(f"s-{number}", dialog=[]), f"SHOT {number}", frames)
        first = clip.source_range.start_time.value - handles
        reference = otio.schema.ExternalReference(
            target_url=media.resolve().as_uri(),
            available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(first, FPS),
                otio.opentime.RationalTime(frames + 2 * handles, FPS)))
        clip.set_media_references({tier: reference}, tier)
        clips.append(clip)
        expected += [_sample(record + c) for c in clicks]
        record += frames
    edit = tiny_production / "timelines" / "clicks.otio"
    write_timeline(make_timeline(clips), edit)
    out = tmp_path / "cut.mp4"
    code = main(["-q", "preview", str(edit), "-o", str(out), "--tier", "proxy",
                 "--production", str(tiny_production)])
    assert code == 0
    info = probe(out)
    total = sum(c[0] for c in cuts)
    assert info.frame_count == total
    assert (info.width, info.height) == (160, 90)  # the proxy tier's size in the production
    assert info.audio_duration == pytest.approx(total / FPS, abs=0.03)
    samples, rate = read_audio(out)
    assert rate == AUDIO_RATE
    found = _onsets(samples)
    tolerance = AUDIO_RATE // 1000  # 1 ms
    assert len(found) == len(expected), (found, expected)
    for got, want in zip(found, expected, strict=True):
        assert abs(got - want) <= tolerance, f"click at sample {got}, expected {want}"
    frames = list(read_frames(out))
    assert len(frames) == total
    burn = (slice(4, 12), slice(4, 30))  # the corner burn-in's box
    for index, frame in ((0, frames[0]), (25, frames[25]), (60, frames[60])):
        tier = "placeholder" if index < 25 or index >= 56 else "proxy"
        corner = frame[burn].reshape(-1, 3).mean(axis=0)
        centre = frame[60:80, 60:100].reshape(-1, 3).mean(axis=0)
        color = np.array(cuts[0 if index < 25 else 1 if index < 56 else 2][1])
        assert np.abs(centre - color).max() < 25, f"frame {index} shows the wrong shot"
        marked = np.abs(corner - color).max() > 40
        assert marked == (tier != "proxy"), f"frame {index}: burn-in {marked} for {tier}"


# --------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def rendered_demo(tmp_path_factory: pytest.TempPathFactory, demo_production: Path) -> Path:
    """A copy of the demo production with its placeholders rendered and linked."""
    dest = tmp_path_factory.mktemp("review") / "campfire"
    shutil.copytree(demo_production, dest)
    edit = dest / "timelines" / "campfire.otio"
    assert main(["-q", "render", str(edit), "--production", str(dest)]) == 0
    return dest


def _demo_edit(folder: Path) -> Path:
    return folder / "timelines" / "campfire.otio"


def _shot_count(folder: Path) -> int:
    return sum(1 for c in read_timeline(_demo_edit(folder)).find_clips()
               if NAMESPACE in c.metadata)


def test_storyboard_in_a_browser_shows_every_shot_and_plays(rendered_demo, tmp_path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="needs the playwright package (dev extra)")
    board = tmp_path / "board.html"
    assert main(["-q", "storyboard", str(_demo_edit(rendered_demo)), "-o", str(board)]) == 0
    shots = _shot_count(rendered_demo)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(board.resolve().as_uri())
            page.wait_for_load_state("load")
            assert page.locator("article.panel").count() == shots
            assert page.locator("section.scene h2").first.inner_text().startswith("EXT.")
            images = page.evaluate("""[...document.querySelectorAll('article.panel img')]
                .map(i => [i.complete && i.naturalWidth > 0, i.alt])""")
            assert images and all(ok for ok, _alt in images), images
            for shot_id in ("s01-001", "s01-008"):
                assert page.locator(f'article.panel[data-shot="{shot_id}"]').count() == 1
            start = float(page.locator("#anim-time").get_attribute("data-seconds"))
            page.keyboard.press("Space")
            page.wait_for_function(
                "Number(document.getElementById('anim-time').dataset.seconds) > 1.0",
                timeout=10_000)
            state = page.evaluate("""(() => { const v = document.getElementById('anim-video');
                return {t: Number(document.getElementById('anim-time').dataset.seconds),
                        video: v.currentTime, paused: v.paused,
                        h264: v.canPlayType('video/mp4; codecs="avc1.640028"')}; })()""")
            assert state["t"] > start
            if state["h264"]:  # the browser plays the media itself, not the still fallback
                assert not state["paused"] and state["video"] > 0.5, state
            screenshot = tmp_path / "storyboard-playing.png"
            page.screenshot(path=str(screenshot))
            _keep(screenshot)
            page.keyboard.press("Space")  # pause, then step to the next shot
            page.keyboard.press("ArrowRight")
            assert page.evaluate("window.animatic.shot()") == 1
            assert page.locator("article.panel.current").get_attribute("data-shot") == "s01-002"
            assert not errors, errors
        finally:
            browser.close()


def _panel_boxes(png: Path) -> list[tuple[int, int, int, int]]:
    """Framed panels on a rendered page: big connected non-white regions."""
    image = cv2.imread(str(png))
    ink = (image.min(axis=2) < 200).astype(np.uint8)
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    height, width = ink.shape
    return [tuple(stats[i][:4]) for i in range(1, count)
            if stats[i][2] > width * 0.2 and stats[i][3] > height * 0.25]


def test_contact_sheet_pdf_has_one_readable_panel_per_shot(rendered_demo, tmp_path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("needs pdftoppm (apt-get install poppler-utils)")
    pypdf = pytest.importorskip("pypdf", reason="needs pypdf (dev extra)")
    sheet = tmp_path / "sheet.pdf"
    assert main(["-q", "storyboard", str(_demo_edit(rendered_demo)), "-o", str(sheet)]) == 0
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(sheet), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    shots = _shot_count(rendered_demo)
    assert len(pages) == -(-shots // 6)
    assert sum(len(_panel_boxes(p)) for p in pages) == shots
    _keep(pages[0], "contact-sheet-page-1.png")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(str(sheet)).pages)
    review = collect(read_timeline(_demo_edit(rendered_demo)), load_production(rendered_demo))
    for shot in review.shots:
        assert shot.shot_id in text
        assert shot.name in text
    assert "JANE: Pass the marshmallows." in text
    assert "GPU-min" in text and "placeholder fresh" in text
    sizes = {round(size) for size in _font_sizes(pypdf, sheet)}
    assert min(sizes) >= 8, sizes  # captions print at 8 pt or larger


def _font_sizes(pypdf, path: Path) -> list[float]:
    sizes: list[float] = []
    for page in pypdf.PdfReader(str(path)).pages:
        page.extract_text(visitor_text=lambda text, _cm, tm, _font, size: sizes.append(
            size * abs(tm[0])) if text.strip() else None)
    return sizes


def test_contact_sheet_png_pages(rendered_demo, tmp_path) -> None:
    sheet = tmp_path / "sheet.png"
    assert main(["-q", "storyboard", str(_demo_edit(rendered_demo)), "-o", str(sheet),
                 "--per-page", "4"]) == 0
    pages = [sheet, *sorted(tmp_path.glob("sheet-*.png"))]
    assert len(pages) == -(-_shot_count(rendered_demo) // 4)
    assert sum(len(_panel_boxes(p)) for p in pages) == _shot_count(rendered_demo)


def test_storyboard_adapter_is_registered_for_html_only(rendered_demo, tmp_path) -> None:
    manifest = otio.plugins.ActiveManifest()
    adapter = manifest.from_name("soloreel_storyboard")
    assert set(adapter.suffixes) == {"html", "htm"}
    timeline = read_timeline(_demo_edit(rendered_demo))
    board = tmp_path / "adapter.html"
    otio.adapters.write_to_file(timeline, str(board), production=str(rendered_demo))
    text = board.read_text()
    assert text.count('<article class="panel"') == _shot_count(rendered_demo)
    assert (tmp_path / "adapter_files").is_dir()
    inline = otio.adapters.write_to_string(timeline, "soloreel_storyboard",
                                           production=str(rendered_demo))
    assert "data:image/jpeg;base64," in inline and "file://" in inline


# --------------------------------------------------------------------------- status plot


def test_status_plot_marks_stale_shots(tiny_production, tmp_path) -> None:
    clips = [make_clip(spec_dict(f"s-{i}", dialog=[]), f"SHOT {i}", 24) for i in (1, 2, 3)]
    edit = tiny_production / "timelines" / "edit.otio"
    write_timeline(make_timeline(clips), edit)
    assert main(["-q", "render", str(edit), "--production", str(tiny_production)]) == 0
    timeline = read_timeline(edit)
    clip = timeline.find_clips()[1]
    meta = dict(clip.metadata[NAMESPACE])
    meta["dialog"] = [{"speaker": "jane", "text": "Changed after the render."}]
    clip.metadata[NAMESPACE] = meta
    write_timeline(timeline, edit)
    review = collect(read_timeline(edit), load_production(tiny_production))
    assert [s.best_any for s in review.shots] == [
        ("placeholder", False), ("placeholder", True), ("placeholder", False)]
    assert review.final_minutes is None  # the tiny production names no final model
    assert "[tiers.final] model" in (review.final_problem or "")
    plot = tmp_path / "status.png"
    assert main(["-q", "status", str(edit), "--production", str(tiny_production),
                 "--plot", str(plot)]) == 0
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[1] > 600
    _keep(plot)
