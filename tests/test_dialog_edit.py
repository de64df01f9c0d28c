"""`soloreel dialog` on the demo: the screenplay's DIALOG track is replaced, every audio track
ends with the picture, lines are whole inside their shots, the preview and the conform sound
to the last frame (each line once), and the media linker links dialog clips."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

from render_engine.audio.tracks import (
    METADATA_KEY,
    SCRIPT_DIALOG_KEY,
    attach_dialog_tracks,
    end_with_picture,
    lines_past_cut,
    picture_frames,
)
from render_engine.bible import load_production
from render_engine.cli import main
from render_engine.media.encode import read_audio, read_frames
from render_engine.spec import SHOT_ORIGIN_SECONDS, read_spec
from render_engine.timeline_io import read_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

FPS = 24
RATE = 48000
SMALL_TIERS = {"placeholder": (160, 90), "proxy": (192, 108)}


def shrink_tiers(folder: Path) -> None:
    """Small frames for the test's renders (the edit and its sound are what is tested)."""
    path = folder / "soloreel.toml"
    settings = tomllib.loads(path.read_text())
    for tier, (width, height) in SMALL_TIERS.items():
        settings["tiers"][tier].update(width=width, height=height)
    path.write_text(tomli_w.dumps(settings))


@pytest.fixture(scope="module")
def voiced(demo_production: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo copy whose edit went through `soloreel dialog -o cut.otio`, then was rendered at
    the proxy tier and previewed as cut.mp4."""
    folder = tmp_path_factory.mktemp("voiced") / "campfire"
    shutil.copytree(demo_production, folder)
    shrink_tiers(folder)
    raw, cut = folder / "timelines" / "campfire.otio", folder / "timelines" / "cut.otio"
    assert main(["-q", "dialog", str(raw), "-o", str(cut)]) == 0
    assert main(["-q", "render", str(cut), "--tier", "proxy"]) == 0
    assert main(["-q", "preview", str(cut), "-o", str(folder / "cut.mp4"), "--tier", "proxy"]) == 0
    return folder


def edit_of(folder: Path) -> otio.schema.Timeline:
    """The voiced edit."""
    return read_timeline(folder / "timelines" / "cut.otio")


def wav_of(clip: otio.schema.Clip) -> Path:
    """The local file a clip links."""
    return Path(unquote(urlparse(clip.media_reference.target_url).path))


def line_clips(timeline: otio.schema.Timeline, speaker: str) -> list[otio.schema.Clip]:
    """The speaker's dialog clips on the character tracks, in record order."""
    return [clip for track in timeline.audio_tracks() for clip in track.find_clips()
            if (clip.metadata.get(METADATA_KEY) or {}).get("speaker") == speaker]


def rms(samples: np.ndarray) -> float:
    """Root mean square level of a stretch of samples."""
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


# --------------------------------------------------------------------------- the edit


def test_the_screenplays_dialog_track_is_replaced(voiced: Path) -> None:
    raw = read_timeline(voiced / "timelines" / "campfire.otio")
    assert [t.name for t in raw.audio_tracks()] == ["DIALOG"]  # what script2edit wrote
    timeline = edit_of(voiced)
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John", "Ranger", "Room tone"]
    stale = [clip.name for clip in timeline.find_clips() if SCRIPT_DIALOG_KEY in clip.metadata]
    assert stale == []
    spoken = sorted((c.metadata[METADATA_KEY]["shot_id"], c.metadata[METADATA_KEY]["text"])
                    for t in timeline.audio_tracks() for c in t.find_clips()
                    if c.metadata[METADATA_KEY]["role"] == "dialog")
    written = sorted((read_spec(c).shot.id, line.text) for c in timeline.video_tracks()[0]
                     .find_clips() for line in read_spec(c).dialog)
    assert spoken == written and len(spoken) >= 7  # the campfire's 7, the patio's more


def test_every_audio_track_ends_with_the_picture(voiced: Path) -> None:
    timeline = edit_of(voiced)
    picture = timeline.video_tracks()[0].duration()
    for track in timeline.audio_tracks():
        assert track.duration() == picture, track.name
    assert timeline.duration() == picture


def test_the_rangers_line_is_whole_inside_its_shot(voiced: Path) -> None:
    production = load_production(voiced)
    raw = read_timeline(voiced / "timelines" / "campfire.otio")
    (before,) = lines_past_cut(raw, production)  # the screenplay's estimate is too short
    assert before.speaker == "ranger" and before.text.endswith("midnight.")
    assert 0.2 < before.after_cut < 0.5 and "after the cut" in before.message()
    timeline = edit_of(voiced)
    assert lines_past_cut(timeline, production) == []
    line = next(clip for clip in line_clips(timeline, "ranger")
                if clip.metadata[METADATA_KEY]["text"].endswith("midnight."))
    samples = line.media_reference.available_range.duration.value
    assert line.source_range.start_time.value == 0
    assert line.source_range.duration.value == np.ceil(samples / RATE * FPS - 1e-6)
    shot = next(c for c in timeline.video_tracks()[0].find_clips()
                if read_spec(c).shot.id == line.metadata[METADATA_KEY]["shot_id"])
    end = line.range_in_parent().end_time_exclusive()
    assert end <= shot.range_in_parent().end_time_exclusive()


# --------------------------------------------------------------------------- what is heard


def speech_windows(timeline: otio.schema.Timeline) -> dict[str, tuple[int, int]]:
    """(first, end) 48 kHz sample of the last 0.4 s of speech of the ranger's line and of the
    edit's last line, from the clips' places and their WAVs."""
    windows = {}
    for speaker in ("ranger", "john"):
        clip = line_clips(timeline, speaker)[-1]
        samples, _ = read_audio(wav_of(clip))
        loud = np.flatnonzero(np.abs(samples) > 0.01)
        record = round(clip.range_in_parent().start_time.value * RATE / FPS)
        skip = round(clip.source_range.start_time.value * RATE / FPS)
        end = record + loud[-1] - skip
        windows[speaker] = (end - int(0.4 * RATE), end)
    return windows


def test_preview_sounds_to_its_last_frame(voiced: Path) -> None:
    timeline = edit_of(voiced)
    frames = round(timeline.video_tracks()[0].duration().value)
    movie = voiced / "cut.mp4"
    assert sum(1 for _ in read_frames(movie)) == frames  # no black tail
    samples, rate = read_audio(movie)
    assert rate == RATE and abs(len(samples) - frames * RATE / FPS) <= RATE / FPS
    for speaker, (lo, hi) in speech_windows(timeline).items():
        assert rms(samples[lo:hi]) > 0.02, f"{speaker}'s last words are silent"


def test_conform_ends_with_the_picture_and_speaks_each_line_once(voiced: Path) -> None:
    timeline = edit_of(voiced)
    film = voiced / "film.mp4"
    otio.adapters.write_to_file(timeline, str(film))
    frames = round(timeline.video_tracks()[0].duration().value)
    assert sum(1 for _ in read_frames(film)) == frames
    conformed, _ = read_audio(film)
    previewed, _ = read_audio(voiced / "cut.mp4")
    assert abs(len(conformed) - len(previewed)) <= RATE / FPS
    for speaker, (lo, hi) in speech_windows(timeline).items():
        level = rms(conformed[lo:hi])
        assert level > 0.02, f"{speaker}'s last words are silent in the conform"
        # the shots' own dialog is not mixed over the tracks' (that would double it)
        assert 0.6 < level / rms(previewed[lo:hi]) < 1.5, speaker


# --------------------------------------------------------------------------- media linker


def test_media_linker_links_dialog_clips(voiced: Path, tmp_path: Path) -> None:
    otioconvert = Path(sys.executable).with_name("otioconvert")
    out = tmp_path / "linked.otio"
    done = subprocess.run(
        [str(otioconvert), "-i", str(voiced / "timelines" / "campfire.otio"), "-o", str(out),
         "-m", "soloreel", "-M", f"production={voiced}", "-M", "render=no"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    linked = read_timeline(out)
    (dialog,) = linked.audio_tracks()
    clips = list(dialog.find_clips())
    lines = sum(len(read_spec(c).dialog) for c in linked.video_tracks()[0].find_clips())
    assert len(clips) == lines >= 7
    for clip in clips:
        assert wav_of(clip).is_file(), clip.name
        available = clip.media_reference.available_range
        assert available.duration.value > RATE  # a spoken line, more than a second
        assert available.start_time.to_seconds() == SHOT_ORIGIN_SECONDS  # as the clip's source
    again = otio.adapters.read_from_file(
        str(voiced / "timelines" / "cut.otio"), media_linker_name="soloreel",
        media_linker_argument_map={"production": str(voiced), "render": "no"})
    heard = [c for t in again.audio_tracks() for c in t.find_clips()]
    assert len(heard) > 7 and all(wav_of(c).is_file() for c in heard)


# --------------------------------------------------------------------------- small edits


@pytest.fixture
def production(tiny_production: Path) -> Path:
    """The tiny production with espeak voices (fast)."""
    for name, variant in (("jane", "en-us+f3"), ("john", "en-us+m3")):
        path = tiny_production / "cast" / f"{name}.toml"
        data = tomllib.loads(path.read_text())
        data["voice"] = {"engine": "espeak", "variant": variant}
        path.write_text(tomli_w.dumps(data))
    return tiny_production


def script_line(name: str, frames: int, shot: str, text: str) -> otio.schema.Clip:
    """A dialog clip as script2edit writes it (no media)."""
    clip = otio.schema.Clip(name=name, source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(SHOT_ORIGIN_SECONDS * FPS, FPS),
        otio.opentime.RationalTime(frames, FPS)))
    clip.metadata[SCRIPT_DIALOG_KEY] = {"shot": shot, "speaker": "jane", "text": text,
                                        "start": 0.0, "parenthetical": "", "audio_only": False}
    return clip


def test_mixed_track_keeps_the_editors_clips_and_long_tracks_are_reported(
        production: Path) -> None:
    text = "Pass the marshmallows."
    timeline = make_timeline([make_clip(spec_dict("s-001", dialog=[
        {"speaker": "jane", "text": text, "start": 0.2}]), frames=30)])
    script = otio.schema.Track(name="DIALOG", kind=otio.schema.TrackKind.Audio)
    script.append(script_line("JANE", 20, "s-001", text))
    mixed = otio.schema.Track(name="FX", kind=otio.schema.TrackKind.Audio)
    mixed.append(script_line("JANE", 10, "s-001", text))
    sting = otio.schema.Clip(name="sting", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(300, FPS)))
    mixed.append(sting)
    timeline.tracks.extend([script, mixed])
    report = attach_dialog_tracks(timeline, load_production(production), room_tone=True)
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "Room tone", "FX"]
    assert report.replaced == ["DIALOG", "FX: 1 screenplay line(s)"]
    fx = timeline.audio_tracks()[-1]
    assert isinstance(fx[0], otio.schema.Gap) and fx[0].duration().value == 10
    assert fx[1] is not None and fx[1].name == "sting"  # never cut
    picture = picture_frames(timeline)
    assert [round(t.duration().value) for t in timeline.audio_tracks()[:2]] == [picture] * 2
    assert len(report.overruns) == 1 and report.overruns[0].startswith("FX: runs")


def test_end_with_picture_pads_and_trims_only_gaps() -> None:
    track = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip(name="a", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(10, FPS))))
    assert end_with_picture(track, 25, FPS) == 0 and track.duration().value == 25
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(40, FPS))))
    assert end_with_picture(track, 20, FPS) == 0 and track.duration().value == 20
    assert end_with_picture(track, 5, FPS) == 5 and track.duration().value == 10


def test_trimmed_shot_cuts_its_line_and_the_check_says_so(production: Path) -> None:
    prod = load_production(production)
    clip = make_clip(spec_dict("s-001", dialog=[
        {"speaker": "jane", "text": "You hear that? The whole forest went quiet.",
         "start": 0.2}]), frames=30)
    timeline = make_timeline([clip])
    assert lines_past_cut(timeline, prod, speak=False) == []  # nothing spoken yet: skipped
    (late,) = lines_past_cut(timeline, prod)
    assert late.after_cut > 0.5 and late.before_cut == 0
    attach_dialog_tracks(timeline, prod)
    assert lines_past_cut(timeline, prod, speak=False) == []  # the shot follows its line
    clip.source_range = otio.opentime.TimeRange(  # the editor trims both ends into the line
        otio.opentime.RationalTime((SHOT_ORIGIN_SECONDS + 0.5) * FPS, FPS),
        otio.opentime.RationalTime(24, FPS))
    report = attach_dialog_tracks(timeline, prod)
    assert report.kept and len(report.cut) == 1 and "outside the trimmed shot" in report.cut[0]
    (cut,) = lines_past_cut(timeline, prod)
    assert cut.after_cut > 0.3 and 0.1 < cut.before_cut <= 0.3
    assert "starts" in cut.message() and "soloreel dialog" in cut.message()


def test_the_screenplays_dialog_clips_are_the_ones_recognised() -> None:
    from render_engine.screenplay.edit import DIALOG_KEY

    assert SCRIPT_DIALOG_KEY == DIALOG_KEY
