"""The Fountain reader's bounds: a crowd of speakers plans in about linear time, and input past
the documented bounds (speakers per scene, a spoken line's length, a shot note's length) is one
clear FountainError naming the line and the fix."""

from __future__ import annotations

import time

import pytest

from render_engine.screenplay import coverage, notes, parser
from render_engine.screenplay.casting import Casting
from render_engine.screenplay.coverage import plan_screenplay
from render_engine.screenplay.edit import screenplay_to_timeline
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.parser import parse_fountain
from render_engine.spec import read_spec


def crowd(speakers: int) -> str:
    """One scene, `speakers` different speakers with one line each (heading on line 1, the
    n-th cue on line 3n)."""
    parts = ["INT. TOWN HALL - NIGHT", ""]
    for index in range(speakers):
        parts += [f"SPEAKER {index}", f"I am number {index}.", ""]
    return "\n".join(parts)


def test_the_bounds_are_documented_constants() -> None:
    assert parser.MAX_SPEAKERS_PER_SCENE == 200 and parser.MAX_SPEECH_CHARS == 2000
    assert notes.MAX_NOTE_FRAMES == 72_000 and notes.MAX_NOTE_SECONDS == 600.0
    assert coverage.CROWD_SHOT_CHARACTERS <= coverage.WIDE_SHOT_CHARACTERS


def test_two_thousand_speakers_in_one_scene_plan_in_linear_time() -> None:
    """Once 400 speakers took 103 s and 10,000 more than 10 minutes and 10.9 GB: every shot
    listed the whole crowd. A generous wall-clock bound; the structural check below is the
    real one (character entries grow with the shots, not with shots × speakers)."""
    started = time.perf_counter()
    play = parse_fountain(crowd(2000), max_speakers=2000)
    planned = plan_screenplay(play, Casting(None, play))
    assert time.perf_counter() - started < 30
    found = planned.scenes[0].shots
    assert len(found) == 2001  # the establishing wide, then one single per speaker
    assert {line.speaker for shot in found for line in shot.dialog} == \
        {f"speaker-{index}" for index in range(2000)}
    assert found[0].size == "WS" and len(found[0].characters) == coverage.WIDE_SHOT_CHARACTERS
    assert all(len(shot.characters) <= coverage.CROWD_SHOT_CHARACTERS for shot in found[1:])
    single = found[1000]
    names = [entry["name"] for entry in single.characters]
    assert single.subjects[0] in names and "speaker-999" in names  # its listener is there


def test_a_small_scene_still_lists_everyone_in_every_shot() -> None:
    play = parse_fountain(crowd(coverage.CROWD_SHOT_CHARACTERS))
    found = plan_screenplay(play, Casting(None, play)).scenes[0].shots
    assert all(len(shot.characters) == coverage.CROWD_SHOT_CHARACTERS for shot in found)


def test_the_most_speakers_a_scene_may_have_make_an_edit() -> None:
    timeline = screenplay_to_timeline(crowd(parser.MAX_SPEAKERS_PER_SCENE))
    clips = timeline.video_tracks()[0].find_clips()
    assert len(clips) == parser.MAX_SPEAKERS_PER_SCENE + 1
    assert all(len(read_spec(clip).characters) <= coverage.WIDE_SHOT_CHARACTERS
               for clip in clips)


def test_one_speaker_too_many_names_the_scene_and_the_fix() -> None:
    with pytest.raises(FountainError) as caught:
        parse_fountain(crowd(201))
    assert caught.value.line == 1
    message = str(caught.value)
    assert message.startswith("script line 1: ")
    assert "INT. TOWN HALL - NIGHT" in message and "more than 200 different speakers" in message
    assert "SPEAKER 200" in message and "line 603" in message and "split the scene" in message
    assert len(parse_fountain(crowd(201), max_speakers=201).scenes[0].blocks) == 201
    with pytest.raises(FountainError, match="split the scene"):
        screenplay_to_timeline(crowd(201))


def test_the_same_speaker_spelled_two_ways_is_one_speaker() -> None:
    text = "INT. HALL - DAY\n\n" + "".join(f"ZOË\nLine {i}.\n\nZOE (CONT'D)\nAgain.\n\n"
                                           for i in range(150))
    assert len(parse_fountain(text, max_speakers=1).scenes[0].blocks) == 300


def test_an_over_long_line_names_its_line_and_the_fix() -> None:
    speech = "word " * 400  # 2,000 characters with the spaces
    assert len(speech.strip()) < 2000
    parse_fountain(f"INT. HALL - DAY\n\nBOB\nHi.\n\nANNA\n{speech.strip()}\n")
    with pytest.raises(FountainError) as caught:
        parse_fountain(f"INT. HALL - DAY\n\nBOB\nHi.\n\nANNA\n{speech}x\n")
    assert caught.value.line == 7
    message = str(caught.value)
    assert "ANNA's line is 2001 characters long" in message and "(beat)" in message
    long_lyric = "~" + "la " * 700
    with pytest.raises(FountainError, match="script line 4: "):
        parse_fountain(f"INT. HALL - DAY\n\nBOB\n{long_lyric}\n")


def test_a_speech_over_several_lines_counts_as_one_line() -> None:
    lines = "\n".join(["All work and no play makes Jack a dull boy."] * 60)
    with pytest.raises(FountainError, match="script line 4: JACK's line"):
        parse_fountain(f"INT. HOTEL - NIGHT\n\nJACK\n{lines}\n")
    split = "\n(beat)\n".join(["All work and no play makes Jack a dull boy."] * 60)
    assert parse_fountain(f"INT. HOTEL - NIGHT\n\nJACK\n{split}\n").scenes


@pytest.mark.parametrize("length", ["999999999f", "72001f", "601s", "600.5s", "100000sec"])
def test_a_shot_note_longer_than_ten_minutes_names_its_line(length: str) -> None:
    text = f"INT. HALL - DAY\n\nBOB\nHi.\n\n[[shot: WS {length}]]\n\nBOB\nAgain.\n"
    with pytest.raises(FountainError) as caught:
        screenplay_to_timeline(text)
    assert caught.value.line == 6
    assert "longer than ten minutes of footage" in str(caught.value)


@pytest.mark.parametrize("length", ["72000f", "600s"])
def test_a_shot_note_of_ten_minutes_at_120_fps_is_fine(length: str) -> None:
    text = f"INT. HALL - DAY\n\nBOB\nHi.\n\n[[shot: WS {length}]]\n\nBOB\nAgain.\n"
    clips = screenplay_to_timeline(text, fps=120).video_tracks()[0].find_clips()
    assert clips[-1].source_range.duration.value == 72_000
