"""Two complete original screenplays (tests/data/fountain), every Fountain element in each, with
exact expected counts of what the parser finds and of the shots the coverage makes.

The shot counts were worked out by hand from the coverage rules in docs/fountain.md before the
code was run on them; the comments in EXPECTED say where each shot comes from.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from otio_adapters.fountain import read_from_file, read_from_string
from render_engine.screenplay.parser import parse_fountain
from render_engine.spec import read_spec, to_plain
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "fountain"

EXPECTED = {
    "night_shift": {
        "title": "NIGHT SHIFT a short screenplay",
        "scenes": 5,
        "dialogue_blocks": 15,
        "speakers": {"zoe", "unit-7", "dispatch", "mckay"},
        "dual_pairs": 1,
        "audio_only_lines": 2,  # DISPATCH (V.O.), UNIT 7 (O.S.)
        "elements": {"scene_heading": 5, "action": 6, "character": 15, "dialogue": 14,
                     "parenthetical": 4, "lyrics": 1, "transition": 3, "centered": 1,
                     "note": 2, "section": 2, "synopsis": 1, "page_break": 1},
        "boneyards": 1,
        "notes": 3,
        # 1: EWS crane-down (note after the only action)
        # 2: EST WS; MCU ZOË, MCU UNIT 7, OTS, MCU, CU (note), MCU ZOË hearing the V.O.,
        #    MCU ZOË, OTS
        # 3: EST WS; MCU McKAY (sung)
        # 4: EST WS; WS tracking McKAY in; MS McKAY; MCU ZOË; MCU UNIT 7; TWO (dual);
        #    MCU ZOË hearing the O.S.
        # 5: EST WS of the title card
        "sizes": {"EWS": 1, "WS": 5, "MCU": 9, "OTS": 2, "CU": 1, "MS": 1, "TWO": 1},
        "shots_per_scene": [1, 9, 2, 7, 1],
    },
    "last_bakery": {
        "title": "The Last Bakery on Elm Street",
        "scenes": 6,
        "dialogue_blocks": 24,
        "speakers": {"rosa", "teo", "mrs-okafor", "baker-2", "senora-ruiz"},
        "dual_pairs": 1,
        "audio_only_lines": 2,  # ROSA (O.S.), Señora Ruiz (V.O.)
        "elements": {"scene_heading": 6, "action": 9, "character": 24, "dialogue": 24,
                     "parenthetical": 6, "lyrics": 1, "transition": 2, "centered": 1,
                     "note": 5, "section": 1, "synopsis": 1, "page_break": 1},
        "boneyards": 1,
        "notes": 5,
        # 1: EST WS (EST. prefix: pans)
        # 2: EST WS; MCU ROSA, MCU TEO, OTS, MCU, OTS, MCU, OTS (note TEO>ROSA), ECU insert
        # 3: EST WS; MCU, MCU, OTS, MCU (sung), OTS, MCU, MCU reaction to "Keep singing!"
        # 4: EST WS; WS tracking the two newcomers; MWS, MWS (note x2); TWO (dual); MCU;
        #    TWO (note lines=2); MCU TEO as ROSA walks out; MCU TEO hearing ROSA (O.S.); MCU
        # 5: no EST (skip): WS under the newscaster's V.O.
        # 6: EST WS of the epilogue
        "sizes": {"WS": 7, "MCU": 13, "OTS": 5, "MWS": 2, "TWO": 2, "ECU": 1},
        "shots_per_scene": [1, 9, 8, 10, 1, 1],
    },
}


def _path(name: str) -> Path:
    return DATA / f"{name}.fountain"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parser_counts(name: str) -> None:
    expected = EXPECTED[name]
    play = parse_fountain(_path(name).read_text(encoding="utf-8"))
    assert play.title == expected["title"]
    assert len(play.scenes) == expected["scenes"]
    blocks = play.blocks()
    assert len(blocks) == expected["dialogue_blocks"]
    assert sum(1 for b in blocks if b.cue.dual) == expected["dual_pairs"]
    assert Counter(e.kind for e in play.elements) == Counter(expected["elements"])
    assert play.boneyards == expected["boneyards"] and len(play.notes) == expected["notes"]
    assert play.warnings == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_edit_counts(name: str) -> None:
    expected = EXPECTED[name]
    timeline = read_from_file(str(_path(name)))
    clips = timeline.video_tracks()[0].find_clips()
    specs = [read_spec(clip) for clip in clips]
    assert Counter(s.shot.size for s in specs) == Counter(expected["sizes"])
    assert {d.speaker for s in specs for d in s.dialog} == expected["speakers"]
    assert sum(d.audio_only for s in specs for d in s.dialog) == expected["audio_only_lines"]
    per_scene = Counter(to_plain(c.metadata["soloreel_script"])["scene"] for c in clips)
    assert [per_scene[i + 1] for i in range(expected["scenes"])] == expected["shots_per_scene"]
    markers = timeline.video_tracks()[0].markers
    assert len(markers) == expected["scenes"]
    assert sum(m.marked_range.duration.value for m in markers) == \
        timeline.video_tracks()[0].duration().value
    lines = [c for t in timeline.audio_tracks() for c in t.find_clips()]
    assert len(lines) == sum(len(s.dialog) for s in specs)
    ids = [s.shot.id for s in specs]
    assert len(set(ids)) == len(ids) and len({s.seed for s in specs}) == len(specs)
    assert to_plain(timeline.metadata["soloreel_script"])["warnings"] == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crlf_and_bom_read_the_same(name: str) -> None:
    text = _path(name).read_text(encoding="utf-8")
    windows = "\ufeff" + text.replace("\n", "\r\n")
    plain, crlf = read_from_string(text), read_from_string(windows)
    shots = [[(c.name, read_spec(c).model_dump()) for c in t.video_tracks()[0].find_clips()]
             for t in (plain, crlf)]
    assert shots[0] == shots[1]


def test_details_of_night_shift() -> None:
    timeline = read_from_file(str(_path("night_shift")))
    clips = timeline.video_tracks()[0].find_clips()
    names = [c.name for c in clips]
    assert names[:3] == ["EST MOUNTAIN OBSERVATORY", "EST CONTROL ROOM", "ZOË MCU"]
    specs = [read_spec(c) for c in clips]
    assert specs[0].camera.move == "crane_down" and specs[1].lighting == "night"  # CONTINUOUS
    sung = next(s for s in specs if s.dialog and s.dialog[0].speaker == "mckay")
    assert sung.dialog[0].text.startswith("Oh the road goes up and the road goes round and")
    assert sung.dialog[0].parenthetical == "singing"
    close = specs[6]
    assert (close.shot.size, close.camera.move) == ("CU", "push_in")
    assert close.dialog[0].text == "It is not a loose cable."  # emphasis dropped
    assert [s.shot.id for s in specs[-2:]] == ["s04-007", "s05-001"]


def test_details_of_last_bakery() -> None:
    timeline = read_from_file(str(_path("last_bakery")))
    specs = [read_spec(c) for c in timeline.video_tracks()[0].find_clips()]
    by_id = {s.shot.id: s for s in specs}
    assert by_id["s01-001"].camera.move == "pan_right"  # EST. is an exterior
    assert by_id["s03-001"].camera.move == "pan_right"  # so is I/E
    mwss = [s for s in specs if s.shot.size == "MWS"]
    assert all(s.camera.handheld for s in mwss) and len(mwss) == 2
    entrance = by_id["s04-002"]
    walkers = sorted(c.name for c in entrance.characters if c.action == "walk")
    assert walkers == ["baker-2", "mrs-okafor"] and entrance.camera.target == "mrs-okafor"
    assert "s05-001" in by_id and by_id["s05-001"].dialog[0].speaker == "senora-ruiz"
    assert by_id["s05-001"].dialog[0].audio_only
    assert by_id["s06-001"].lighting is None  # a forced heading with no time: set default
    sides = to_plain(timeline.video_tracks()[0].find_clips()[1].metadata["soloreel_script"])
    assert sides["screen_sides"] == {"rosa": "left", "teo": "right"}
