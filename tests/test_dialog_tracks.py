"""Dialog into the edit: per-character audio tracks, exact frame placement, 48 kHz PCM WAVs,
shots that follow their dialog unless the editor trimmed them, errors that change nothing."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import unquote, urlparse

import av
import numpy as np
import opentimelineio as otio
import pytest
import tomli_w

from render_engine.audio.tracks import METADATA_KEY, TAIL_SECONDS, attach_dialog_tracks
from render_engine.audio.voice import synthesize
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import VoiceSettings, load_production
from render_engine.errors import SoloreelError
from render_engine.spec import SHOT_ORIGIN_SECONDS, read_spec
from render_engine.timeline_io import read_timeline, write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

FPS = 24


def line(speaker: str, text: str, start: float, **extra: object) -> dict:
    """A dialog line dict."""
    return {"speaker": speaker, "text": text, "start": start, **extra}


@pytest.fixture
def production(tiny_production: Path) -> Path:
    """The tiny production with two espeak voices (fast, deterministic)."""
    import tomllib

    for name, voice in (("jane", {"variant": "en-us+f3", "pitch": 65}),
                        ("john", {"variant": "en-us+m3", "pitch": 35})):
        path = tiny_production / "cast" / f"{name}.toml"
        data = tomllib.loads(path.read_text())
        data["voice"] = {"engine": "espeak", **voice}
        path.write_text(tomli_w.dumps(data))
    return tiny_production


def edit() -> otio.schema.Timeline:
    """Four shots: a two-hander, a one-liner, one trimmed at the head, one without dialog."""
    two = make_clip(spec_dict("s-001", dialog=[
        line("jane", "Pass the marshmallows.", 0.3),
        line("john", "Last two. Make them count.", 2.0)]), name="TWO", frames=48)
    john = make_clip(spec_dict("s-002", dialog=[line("john", "It always does.", 0.0)]),
                     name="JOHN", frames=24)
    trimmed = make_clip(spec_dict("s-003", dialog=[line("jane", "You hear that?", 0.2)]),
                        name="JANE trimmed", frames=48)
    trimmed.source_range = otio.opentime.TimeRange(
        otio.opentime.RationalTime((SHOT_ORIGIN_SECONDS + 0.5) * FPS, FPS),
        otio.opentime.RationalTime(48, FPS))
    quiet = make_clip(spec_dict("s-004", dialog=[]), name="WIDE", frames=30)
    return make_timeline([two, john, trimmed, quiet])


def audio_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Every dialog clip on the audio tracks."""
    return [clip for track in timeline.audio_tracks() for clip in track.find_clips()
            if (clip.metadata.get(METADATA_KEY) or {}).get("role") == "dialog"]


def shot(timeline: otio.schema.Timeline, shot_id: str) -> otio.schema.Clip:
    """The video clip of a shot id."""
    return next(c for c in timeline.video_tracks()[0].find_clips()
                if (spec := read_spec(c)) is not None and spec.shot.id == shot_id)


def wav_path(clip: otio.schema.Clip) -> Path:
    """The local file an audio clip links."""
    return Path(unquote(urlparse(clip.media_reference.target_url).path))


def cache_entries(root: Path) -> list[Path]:
    """Everything in renders/audio."""
    folder = root / "renders" / "audio"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --------------------------------------------------------------------------- placement


def test_lines_sit_on_character_tracks_at_exact_frames(production: Path) -> None:
    timeline = edit()
    report = attach_dialog_tracks(timeline, load_production(production))
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John"]
    assert report.tracks == ["Jane", "John"] and report.lines == 4
    clips = audio_clips(timeline)
    assert len(clips) == 4
    for clip in clips:
        meta = clip.metadata[METADATA_KEY]
        picture = shot(timeline, meta["shot_id"])
        spec = read_spec(picture)
        dialog = spec.dialog[meta["line"]]
        assert clip.parent().name == dialog.speaker.title()
        record = picture.range_in_parent().start_time.value
        source_start = picture.source_range.start_time.to_seconds()
        offset = round((spec.shot.origin + dialog.start - source_start) * FPS)
        expected = record + max(offset, 0)
        placed = clip.range_in_parent().start_time
        assert placed.rate == FPS and placed.value == expected, (meta, placed, expected)
        assert clip.source_range.start_time.value == max(-offset, 0)
        samples = clip.media_reference.available_range.duration
        assert samples.rate == 48000
        end = min(offset + math.ceil(samples.value / 48000 * FPS - 1e-6),
                  round(picture.source_range.duration.value))
        assert clip.source_range.duration.value == end - max(offset, 0)


def test_line_wavs_are_48k_pcm_and_faded(production: Path) -> None:
    timeline = edit()
    attach_dialog_tracks(timeline, load_production(production))
    for clip in audio_clips(timeline):
        path = wav_path(clip)
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == "pcm_s16le"
            assert stream.rate == 48000 and stream.channels == 1
            decoded = sum(frame.samples for frame in container.decode(stream))
        assert decoded == clip.media_reference.available_range.duration.value
        samples, _ = read_audio_any(path)
        assert abs(samples[0]) < 2e-3 and abs(samples[-1]) < 2e-3  # no click at the cut
        assert np.abs(samples).max() > 0.05


def test_head_trim_cuts_the_line_with_the_picture(production: Path) -> None:
    timeline = edit()
    attach_dialog_tracks(timeline, load_production(production))
    clip = next(c for c in audio_clips(timeline) if c.metadata[METADATA_KEY]["shot_id"]
                == "s-003")
    picture = shot(timeline, "s-003")
    assert clip.range_in_parent().start_time == picture.range_in_parent().start_time
    assert clip.source_range.start_time.value == round((0.5 - 0.2) * FPS)


# --------------------------------------------------------------------------- durations


def test_shots_follow_their_dialog(production: Path) -> None:
    timeline = edit()
    report = attach_dialog_tracks(timeline, load_production(production))
    for shot_id in ("s-001", "s-002", "s-003"):
        picture = shot(timeline, shot_id)
        spec = read_spec(picture)
        ends = []
        for clip in audio_clips(timeline):
            meta = clip.metadata[METADATA_KEY]
            if meta["shot_id"] == shot_id:
                seconds = clip.media_reference.available_range.duration.value / 48000
                ends.append(spec.dialog[meta["line"]].start + seconds)
        source_start = picture.source_range.start_time.to_seconds()
        wanted = math.ceil((spec.shot.origin + max(ends) + TAIL_SECONDS - source_start) * FPS
                           - 1e-6)
        assert picture.source_range.duration.value == wanted, shot_id
        assert picture.metadata[METADATA_KEY] == {"duration": wanted, "rate": FPS}
    assert shot(timeline, "s-004").source_range.duration.value == 30  # no dialog: untouched
    assert len(report.resized) == 3 and not report.kept


def test_the_editors_trim_wins(production: Path) -> None:
    prod = load_production(production)
    timeline = edit()
    attach_dialog_tracks(timeline, prod)
    two = shot(timeline, "s-001")
    two.source_range = otio.opentime.TimeRange(two.source_range.start_time,
                                               otio.opentime.RationalTime(56, FPS))
    report = attach_dialog_tracks(timeline, prod)
    assert two.source_range.duration.value == 56
    assert report.kept == ['shot 1 "TWO" @ 01:00:00:00']
    john_line = next(c for c in audio_clips(timeline)
                     if c.metadata[METADATA_KEY]["shot_id"] == "s-001"
                     and c.metadata[METADATA_KEY]["speaker"] == "john")
    assert john_line.range_in_parent().start_time.value == 48
    assert john_line.range_in_parent().end_time_exclusive().value == 56  # cut at the cut
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John"]  # replaced, not added
    assert len(audio_clips(timeline)) == 4


def test_rerun_keeps_user_tracks_and_adds_room_tone(production: Path) -> None:
    timeline = edit()
    music = otio.schema.Track(name="Music", kind=otio.schema.TrackKind.Audio)
    music.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, FPS), otio.opentime.RationalTime(10, FPS))))
    timeline.tracks.append(music)
    prod = load_production(production)
    attach_dialog_tracks(timeline, prod, room_tone=True)
    report = attach_dialog_tracks(timeline, prod, room_tone=True)
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John", "Room tone", "Music"]
    assert report.room_tone
    tone = next(t for t in timeline.audio_tracks() if t.name == "Room tone")
    assert tone.duration() == timeline.video_tracks()[0].duration()
    samples, rate = read_audio_any(wav_path(tone[0]))
    level = 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rate == 48000 and -56 < level < -44


def test_one_characters_overlapping_lines_take_a_second_track(production: Path) -> None:
    clip = make_clip(spec_dict("s-010", dialog=[
        line("jane", "Pass the marshmallows, please.", 0.2),
        line("jane", "Now.", 0.6)]), frames=72)
    timeline = make_timeline([clip])
    attach_dialog_tracks(timeline, load_production(production))
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "Jane 2"]


def test_recorded_take_keeps_its_timing(production: Path) -> None:
    take = synthesize("It always does.", VoiceSettings(variant="en-us+f3", pitch=70))
    write_wav(production / "takes" / "take3.wav", take.samples, take.rate)
    clip = make_clip(spec_dict("s-020", dialog=[
        line("john", "It always does.", 0.5, recording="takes/take3.wav")]), frames=72)
    timeline = make_timeline([clip])
    attach_dialog_tracks(timeline, load_production(production))
    (audio,) = audio_clips(timeline)
    seconds = audio.media_reference.available_range.duration.value / 48000
    assert seconds == pytest.approx(take.duration, rel=0.01)
    assert audio.range_in_parent().start_time.value == 12


def test_written_edit_round_trips(production: Path, tmp_path: Path) -> None:
    timeline = edit()
    attach_dialog_tracks(timeline, load_production(production), room_tone=True)
    path = tmp_path / "cut.otio"
    write_timeline(timeline, path)
    back = read_timeline(path)
    assert [t.name for t in back.audio_tracks()] == ["Jane", "John", "Room tone"]
    for clip in audio_clips(back):
        assert wav_path(clip).is_file()
    assert shot(back, "s-001").metadata[METADATA_KEY]["duration"] == \
        shot(timeline, "s-001").source_range.duration.value


# --------------------------------------------------------------------------- errors


def assert_cache_whole(root: Path) -> None:
    """Every cache entry is complete and nothing temporary is left."""
    for entry in cache_entries(root):
        assert not entry.name.startswith(".tmp"), entry
        if entry.is_dir():
            assert sorted(p.name for p in entry.iterdir()) == ["cues.json", "line.wav"]


def test_unknown_character_names_the_clip_and_changes_nothing(production: Path) -> None:
    timeline = edit()
    bad = make_clip(spec_dict("s-099", dialog=[line("bob", "Who's there?", 0.0)]), name="BOB")
    timeline.video_tracks()[0].append(bad)
    before = otio.adapters.write_to_string(timeline)
    with pytest.raises(SoloreelError, match=r'shot 5 "BOB".*unknown character "bob"; '
                                            r"known: jane, john"):
        attach_dialog_tracks(timeline, load_production(production))
    assert otio.adapters.write_to_string(timeline) == before
    assert_cache_whole(production)


def test_unreadable_take_and_failing_voice_leave_no_cache_entry(production: Path) -> None:
    (production / "takes").mkdir()
    (production / "takes" / "broken.wav").write_bytes(b"RIFF this is not audio" * 20)
    prod = load_production(production)
    timeline = make_timeline([make_clip(spec_dict("s-030", dialog=[
        line("jane", "Pass the marshmallows.", 0.0, recording="takes/broken.wav")]),
        name="TAKE")])
    with pytest.raises(SoloreelError, match=r'shot 1 "TAKE".*broken\.wav.*cannot be read'):
        attach_dialog_tracks(timeline, prod)
    assert cache_entries(production) == []
    missing = make_timeline([make_clip(spec_dict("s-031", dialog=[
        line("jane", "Hi.", 0.0, recording="takes/nothing.wav")]), name="GONE")])
    with pytest.raises(SoloreelError, match=r'shot 1 "GONE".*nothing\.wav does not exist'):
        attach_dialog_tracks(missing, prod)
    import tomllib

    path = production / "cast" / "john.toml"
    data = tomllib.loads(path.read_text())
    data["voice"] = {"engine": "espeak", "variant": "en-us+nosuchvoice"}
    path.write_text(tomli_w.dumps(data))
    timeline = make_timeline([make_clip(spec_dict("s-032", dialog=[
        line("john", "Hello there.", 0.0)]), name="JOHN")])
    with pytest.raises(SoloreelError, match=r'shot 1 "JOHN".*nosuchvoice'):
        attach_dialog_tracks(timeline, load_production(production))
    assert cache_entries(production) == []
    assert not timeline.audio_tracks()
