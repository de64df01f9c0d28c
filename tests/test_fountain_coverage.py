"""Coverage by film grammar, blocking, casting against the bible, and the shot-note grammar."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from render_engine.bible import CastMember, LightingPreset, Plate, Production, SetSpec
from render_engine.screenplay.casting import Casting, cast_slug, name_key
from render_engine.screenplay.coverage import plan_screenplay
from render_engine.screenplay.direction import mood, sentences, speech_seconds, subject_of
from render_engine.screenplay.errors import FountainError
from render_engine.screenplay.model import Note
from render_engine.screenplay.notes import ShotNote, read_note
from render_engine.screenplay.parser import parse_fountain
from render_engine.screenplay.plan import Plan, PlannedShot

CHAT = """INT. KITCHEN - DAY

JANE and JOHN sit at the table.

JANE
First.

JOHN
Second.

JANE
Third.

JOHN
Fourth.

JANE
Fifth.

JOHN
Sixth.
"""


def plan(text: str, production: Production | None = None) -> Plan:
    play = parse_fountain(text)
    return plan_screenplay(play, Casting(production, play))


def shots(text: str, production: Production | None = None) -> list[PlannedShot]:
    return [shot for scene in plan(text, production).scenes for shot in scene.shots]


def framing(found: list[PlannedShot]) -> list[tuple[str, list[str]]]:
    return [(shot.size, shot.subjects) for shot in found]


def make_production(root: Path) -> Production:
    """A bible in memory: jane (display "Jane"), john, mrs-hudson; three sets."""
    production = Production(root)
    production.cast = {
        "jane": CastMember(name="jane", display_name="Jane"),
        "john": CastMember(name="john", display_name="John"),
        "mrs-hudson": CastMember(name="mrs-hudson", display_name="Mrs. Hudson"),
    }
    plate = Plate(image="p.png")
    production.sets = {
        "campfire": SetSpec(name="campfire", description="a forest clearing at night",
                            plate=plate, default_lighting="night_fire",
                            lighting={"night_fire": LightingPreset()}),
        "kitchen": SetSpec(name="kitchen", plate=plate, default_lighting="morning",
                           lighting={"morning": LightingPreset(), "night_lamp": LightingPreset()}),
        "patio": SetSpec(name="patio", plate=plate, lighting={"morning": LightingPreset()},
                         default_lighting="morning"),
    }
    return production


# --------------------------------------------------------------------------- grammar


def test_establishing_shot_then_singles_alternating_with_reverses() -> None:
    found = shots(CHAT)
    assert found[0].kind == "establishing" and found[0].name == "EST KITCHEN"
    assert (found[0].size, found[0].subjects, found[0].move) == ("WS", [], "zoom_in")
    assert found[0].prompt == "JANE and JOHN sit at the table."
    assert framing(found[1:]) == [
        ("MCU", ["jane"]), ("MCU", ["john"]), ("OTS", ["john", "jane"]), ("MCU", ["john"]),
        ("OTS", ["john", "jane"]), ("MCU", ["john"])]
    assert [s.name for s in found[1:4]] == ["JANE MCU", "JOHN MCU", "JANE OTS"]


def test_exterior_establishing_shot_pans() -> None:
    est = shots("EXT. FIELD - DAY\n\nWind.\n")[0]
    assert (est.size, est.move, est.amount) == ("WS", "pan_right", 0.3)


def test_postures_hold_across_shots_and_standing_speakers_talk() -> None:
    found = shots(CHAT)
    first = found[1]
    assert {c["name"]: c["action"] for c in first.characters} == {"jane": "sit", "john": "sit"}
    standing = shots(CHAT.replace(" sit at the table", " wait"))[1]
    assert {c["name"]: c["action"] for c in standing.characters} == {"jane": "talk",
                                                                   "john": "stand"}
    assert [(d.speaker, d.text, d.start) for d in first.dialog] == [("jane", "First.", 0.3)]


def test_whispered_line_is_a_close_up_pushing_in_with_the_expression() -> None:
    found = shots(CHAT.replace("JANE\nThird.", "JANE\n(whispering)\nThird."))
    third = found[3]
    assert (third.size, third.subjects, third.move, third.amount) == (
        "CU", ["jane"], "push_in", 0.25)
    assert {c["name"]: c["expression"] for c in third.characters}["jane"] == "hushed"
    assert third.dialog[0].parenthetical == "whispering"


def test_dual_dialogue_is_a_two_shot_spoken_together() -> None:
    found = shots("INT. A - DAY\n\nJANE\nNow!\n\nJOHN ^\nNow!\n")
    two = found[1]
    assert (two.kind, two.size, two.subjects) == ("dual", "TWO", ["jane", "john"])
    assert [d.start for d in two.dialog] == [0.3, 0.3]
    assert len(found) == 2


def test_voice_over_and_off_screen_lines_are_audio_only() -> None:
    found = shots("INT. ROOM - NIGHT\n\nJANE sits alone.\n\nNARRATOR (V.O.)\nShe waited.\n\n"
                  "JANE (V.O.)\nI waited.\n\nJOHN (O.S.)\nAnyone home?\n")
    narrator, inner, offscreen = found[1:]
    assert narrator.kind == "voice" and (narrator.size, narrator.subjects) == ("MCU", ["jane"])
    assert narrator.dialog[0].audio_only and "narrator" not in [
        c["name"] for c in narrator.characters]
    assert (inner.size, inner.subjects) == ("MCU", ["jane"]) and inner.dialog[0].audio_only
    assert offscreen.subjects == ["jane"] and offscreen.dialog[0].audio_only
    empty = shots("EXT. SPACE - NIGHT\n\nStars.\n\nNARRATOR (V.O.)\nIn the beginning.\n")[1]
    assert (empty.size, empty.subjects, empty.characters) == ("WS", [], [])


def test_reaction_when_a_question_hangs_and_the_speaker_goes_on() -> None:
    found = shots("INT. A - DAY\n\nJANE and JOHN wait.\n\nJANE\nDid you hear that?\n\n"
                  "JANE\nThere it is again!\n\nJOHN\nI hear nothing.\n")
    kinds = [s.kind for s in found]
    assert kinds == ["establishing", "dialogue", "reaction", "dialogue", "dialogue"]
    reaction = found[2]
    assert (reaction.size, reaction.subjects, reaction.seconds) == ("MCU", ["john"], 1.5)
    assert {c["name"]: c["expression"] for c in reaction.characters}["john"] == "thinking"


def test_entrance_tracks_the_newcomer_who_then_gets_a_medium_shot() -> None:
    found = shots("EXT. CAMP - NIGHT\n\nJANE and JOHN sit by the fire.\n\nJANE\nQuiet.\n\n"
                  "A RANGER walks in from the trees.\n\nRANGER\nEvening.\n")
    est, jane, enter, ranger = found
    assert "ranger" not in [c["name"] for c in est.characters + jane.characters]
    assert (enter.kind, enter.size, enter.move, enter.target) == ("entrance", "WS", "track",
                                                                  "ranger")
    walker = next(c for c in enter.characters if c["name"] == "ranger")
    assert walker["action"] == "walk" and len(walker["path"]) == 2
    assert {c["expression"] for c in enter.characters if c["name"] != "ranger"} == {"surprised"}
    assert (ranger.size, ranger.subjects) == ("MS", ["ranger"])
    standing = next(c for c in ranger.characters if c["name"] == "ranger")
    assert standing["position"] == walker["path"][-1]


def test_exit_walks_out_and_the_character_is_gone_after() -> None:
    found = shots("INT. A - DAY\n\nJANE and JOHN stand.\n\nJANE\nBye.\n\nJANE leaves.\n\n"
                  "JOHN\nShe always does that.\n\nJOHN\nEvery time.\n")
    leaving = next(c for c in found[2].characters if c["name"] == "jane")
    assert leaving["action"] == "walk" and leaving["path"][-1][0] < -4
    assert "jane" not in [c["name"] for c in found[3].characters]


def test_long_action_gets_a_shot_short_action_opens_the_next() -> None:
    long_text = "JOHN crosses the room, opens every drawer one by one and finds nothing at all."
    found = shots(f"INT. A - DAY\n\nJANE and JOHN.\n\nJANE\nLook.\n\n{long_text}\n\n"
                  "He sighs.\n\nJOHN\nNothing.\n")
    assert [s.kind for s in found] == ["establishing", "dialogue", "action", "dialogue"]
    assert (found[2].size, found[2].subjects) == ("MS", ["john"])
    assert found[3].dialog[0].start == pytest.approx(0.3 + 2 * 0.2)


def test_the_180_degree_line_is_kept_across_the_scene() -> None:
    scene = plan(CHAT).scenes[0]
    assert scene.sides == {"jane": "left", "john": "right"}
    places = {(c["name"], tuple(c["position"]), c["facing"])
              for shot in scene.shots for c in shot.characters}
    assert len(places) == 2  # every shot puts each of them in the same spot
    jane = next(p for p in places if p[0] == "jane")
    john = next(p for p in places if p[0] == "john")
    assert jane[1][0] < 0 < john[1][0]
    assert 45 < jane[2] < 135 and 225 < john[2] < 315  # facing each other, cheated to camera


def test_durations_follow_the_words_and_pauses() -> None:
    short, long_ = shots("INT. A - DAY\n\nJANE\nHi there, how are you?\n\nJANE\n"
                         + "word " * 40 + "\n")[1:]
    assert long_.seconds - short.seconds == pytest.approx(
        speech_seconds("word " * 40) - speech_seconds("Hi there, how are you?"))
    paused = shots("INT. A - DAY\n\nJANE\nHi.\n(beat)\nThere.\n")[1]
    assert paused.dialog[1].start == pytest.approx(0.3 + 0.6 + 0.3 + 0.8)


def test_ids_and_seeds_from_scene_number_and_shot_index() -> None:
    text = "INT. A - DAY\n\nJANE\nHi.\n\nINT. B - DAY #12#\n\nJOHN\nHo.\n\nINT. C - DAY #12#\n\n"
    found = plan(text + "x\n").scenes
    assert [s.shot_id for s in found[0].shots] == ["s01-001", "s01-002"]
    assert [s.shot_id for s in found[1].shots] == ["s12-001", "s12-002"]
    assert found[2].shots[0].shot_id == "s12.2-001"
    seeds = [s.seed for scene in found for s in scene.shots]
    assert len(set(seeds)) == len(seeds)
    again = [s.seed for scene in plan(text + "x\n").scenes for s in scene.shots]
    assert seeds == again


def test_to_parenthetical_picks_the_listener() -> None:
    found = shots("INT. A - DAY\n\nJANE, JOHN and ANNA.\n\nJANE\nOne.\n\nJOHN\nTwo.\n\nANNA\n"
                  "Three.\n\nJANE\n(to JOHN)\nFour.\n\n[[shot: OTS]]\n\nJANE\nFive.\n")
    assert found[4].subjects == ["john", "jane"]
    assert found[5].subjects == ["john", "jane"]  # the last speaker who answered was JANE


@pytest.mark.parametrize("parenthetical, expression", [
    ("smiling", "smile"), ("angrily", "angry"), ("in tears", "sad"), ("listening", "listening"),
    ("to JOHN", None), ("beat", None), ("re: the letter", None),
    ("wiping the counter with a rag", None),
])
def test_mood_of_a_parenthetical(parenthetical: str, expression: str | None) -> None:
    assert mood(parenthetical) == expression


def test_reading_stage_directions() -> None:
    spellings = {"mrs okafor": "mrs-okafor", "baker 2": "baker-2", "ann": "ann", "rosa": "rosa"}
    text = "The bell rings. MRS. OKAFOR and BAKER 2 come in. Dr. Who? ROSA waves."
    assert len(sentences(text)) == 4
    from render_engine.screenplay.direction import ENTER_RE
    assert subject_of(ENTER_RE, sentences(text)[1], spellings) == ["mrs-okafor", "baker-2"]
    assert subject_of(ENTER_RE, "ROSA watches as ANN walks in.", spellings) == ["ann"]


# --------------------------------------------------------------------------- casting


def test_names_without_a_production_are_slugified() -> None:
    assert cast_slug("MRS. O'HARA") == "mrs-ohara"
    assert cast_slug("ZOË") == "zoe" and cast_slug("R2-D2") == "r2-d2"
    assert cast_slug("黒澤").startswith("x-") and name_key("Zoë") == name_key("ZOE")
    found = shots("EXT. FOREST CLEARING - NIGHT\n\nZOË\nHi.\n\nZoe (CONT'D)\nAgain.\n")
    assert {d.speaker for s in found for d in s.dialog} == {"zoe"}
    scene = plan("EXT. FOREST CLEARING - NIGHT\n\nx\n").scenes[0]
    assert (scene.set, scene.lighting) == ("forest-clearing", "night")


def test_characters_match_cast_names_and_display_names(tmp_path: Path) -> None:
    production = make_production(tmp_path)
    result = plan("INT. KITCHEN - DAY\n\nMRS. HUDSON\nTea?\n\n@Jane\nPlease.\n\n@John\nMe too.\n",
                  production)
    speakers = [d.speaker for s in result.scenes[0].shots for d in s.dialog]
    assert speakers == ["mrs-hudson", "jane", "john"]
    assert result.warnings == []


def test_unknown_speakers_are_kept_reported_and_suggested_as_extras(tmp_path: Path) -> None:
    production = make_production(tmp_path)
    play = parse_fountain("INT. KITCHEN - DAY\n\nJNAE\nHi.\n\nPOSTMAN\nParcel.\n")
    casting = Casting(production, play)
    result = plan_screenplay(play, casting)
    speakers = [d.speaker for s in result.scenes[0].shots for d in s.dialog]
    assert speakers == ["jnae", "postman"]
    messages = [w.text() for w in result.warnings]
    assert any(m.startswith("line 3:") and '"JNAE"' in m and 'did you mean "jane"' in m
               for m in messages)
    assert casting.suggested_cast["postman"] == {
        "name": "postman", "display_name": "Postman", "role": "extra", "description": ""}


@pytest.mark.parametrize("heading, expected", [
    ("INT. KITCHEN - NIGHT", ("kitchen", "night_lamp")),
    ("INT. KITCHEN - MORNING", ("kitchen", "morning")),
    ("INT. KITCHEN", ("kitchen", "morning")),
    ("INT. HOUSE - KITCHEN - DAY", ("kitchen", "morning")),
    ("EXT. FOREST CLEARING - NIGHT", ("campfire", "night_fire")),
    ("EXT. PATIO - DUSK", ("patio", "morning")),
])
def test_locations_match_sets_and_times_match_presets(tmp_path: Path, heading: str,
                                                      expected: tuple[str, str]) -> None:
    scene = plan(f"{heading}\n\nx\n", make_production(tmp_path)).scenes[0]
    assert (scene.set, scene.lighting) == expected


def test_missing_preset_and_unknown_location_are_reported(tmp_path: Path) -> None:
    production = make_production(tmp_path)
    play = parse_fountain("EXT. PATIO - NIGHT\n\nx\n\nEXT. MOON BASE - NIGHT\n\ny\n")
    casting = Casting(production, play)
    result = plan_screenplay(play, casting)
    messages = [w.text() for w in result.warnings]
    assert any("patio" in m and "no lighting preset for NIGHT" in m for m in messages)
    assert any(m.startswith("line 5:") and '"MOON BASE"' in m for m in messages)
    assert result.scenes[1].set == "moon-base"
    assert casting.suggested_sets["moon-base"]["plate"] == {"kind": "flat",
                                                            "image": "moon-base/plate.png"}


def test_later_and_continuous_inherit_the_time(tmp_path: Path) -> None:
    result = plan("INT. KITCHEN - NIGHT\n\nx\n\nINT. KITCHEN - MOMENTS LATER\n\ny\n\n"
                  "INT. KITCHEN - CONTINUOUS\n\nz\n", make_production(tmp_path))
    assert [s.lighting for s in result.scenes] == ["night_lamp"] * 3


def test_set_and_lighting_notes_pin_the_scene(tmp_path: Path) -> None:
    scene = plan("EXT. SOMEWHERE - DAY\n\n[[set: patio]] [[lighting: morning]]\n\nx\n",
                 make_production(tmp_path)).scenes[0]
    assert (scene.set, scene.lighting) == ("patio", "morning")


# --------------------------------------------------------------------------- shot notes


def note(text: str, spellings: dict[str, str] | None = None) -> ShotNote:
    found = read_note(Note(text, 7), spellings or {"jane": "jane", "john": "john",
                                                   "zoe": "zoe", "mrs hudson": "mrs-hudson"})
    assert isinstance(found, ShotNote)
    return found


def test_shot_note_grammar() -> None:
    full = note("shot: CU ZOË push-in:30% low handheld x2 4.5s id=s03-012 seed=7 (alarmed)")
    assert (full.size, full.names, full.move, full.amount, full.angle, full.handheld) == (
        "CU", ["zoe"], "push_in", 0.3, "low", True)
    assert (full.repeat, full.seconds, full.shot_id, full.seed, full.mood) == (
        2, 4.5, "s03-012", 7, "alarmed")
    ots = note("Shot:  OTS JOHN>JANE")
    assert (ots.size, ots.over, ots.names) == ("OTS", "john", ["jane"])
    assert note("shot: Mrs. Hudson + john, 96f").names == ["mrs-hudson", "john"]
    assert note("shot: 96f").frames == 96
    assert note("shot: EST dolly-in").size == "WS" and note("shot: dolly_in").move == "push_in"
    assert note("shot: lines=3 insert").lines == 3
    assert note("shot: skip").skip
    assert read_note(Note("TODO: fix this", 1), {}) is None
    assert read_note(Note("set: campfire", 1), {}).value == "campfire"


@pytest.mark.parametrize("text, message", [
    ("shot: CU JANE pushin", 'did you mean "push-in"'),
    ("shot: CU MCU", "already gives a size"),
    ("shot: >JANE", '">" goes between two names'),
    ("shot: JANE>", '">" needs a name after it'),
    ("shot: push-in:1.5", "between 0 and 1"),
    ("shot: x0", "from 1 to 999"),
    ("shot: seed=-1", "whole number from 0"),
    ("shot: id=a/b", "a shot id is"),
    ("shot:", "an empty shot note"),
    ("shot: (a) (b)", "at most one (mood)"),
    ("shot: MCU JOHN>JANE", "over-the-shoulder"),
    ("shot: insert skip", "both insert"),
    ("set:", "needs a name"),
])
def test_bad_shot_notes_raise_with_the_line(text: str, message: str) -> None:
    with pytest.raises(FountainError, match="line 7") as caught:
        note(text)
    assert message in str(caught.value)


def test_bad_note_in_a_script_names_its_line() -> None:
    with pytest.raises(FountainError, match=r"^script line 5: \[\[shot: CU JANE pushin\]\]"):
        plan("INT. A - DAY\n\nJANE\nHi.\n[[shot: CU JANE pushin]]\n")


def test_all_caps_unknown_word_in_a_note_is_a_new_character() -> None:
    found = shots("INT. A - DAY\n\nJANE\nHi.\n\n[[shot: insert MCU GHOST (smiling)]]\n")
    insert = found[-1]
    assert (insert.kind, insert.size, insert.subjects) == ("insert", "MCU", ["ghost"])
    assert {c["name"]: c["expression"] for c in insert.characters}["ghost"] == "smiling"


def test_notes_shape_the_next_shot_and_the_establishing_shot() -> None:
    text = ("EXT. CAMP - NIGHT\n\n[[shot: EWS crane-down]]\n\nJANE and JOHN sit.\n\n"
            "[[shot: CU push-in:0.4 low]]\n\nJANE\nHi.\n\n[[shot: OTS JOHN>JANE x2]]\n\n"
            "JOHN\nHo.\n\nJANE\nHa.\n\nJOHN\nHe.\n")
    est, hi, ho, ha, he = shots(text)
    assert (est.kind, est.size, est.move, est.subjects) == ("establishing", "EWS", "crane_down",
                                                            [])
    assert (hi.size, hi.subjects, hi.move, hi.amount, hi.angle) == ("CU", ["jane"], "push_in",
                                                                    0.4, "low")
    assert ho.size == ha.size == "OTS" and ho.subjects == ha.subjects == ["john", "jane"]
    assert (he.size, he.subjects) == ("MCU", ["john"])


def test_note_after_the_only_action_shapes_the_establishing_shot() -> None:
    est, = shots("EXT. RIDGE - NIGHT\n\nStars.\n\n[[shot: EWS tilt-up]]\n")
    assert (est.size, est.move) == ("EWS", "tilt_up")


def test_lines_insert_skip_and_lengths() -> None:
    text = ("INT. A - DAY\n\n[[shot: skip]]\n\nJANE and JOHN.\n\n[[shot: TWO lines=2 3s]]\n\n"
            "JANE\nOne.\n\nJOHN\nTwo.\n\n[[shot: insert ECU JANE 48f id=close seed=9]]\n\n"
            "JANE\nThree.\n")
    two, insert, three = shots(text)
    assert (two.size, two.subjects, [d.text for d in two.dialog]) == (
        "TWO", ["jane", "john"], ["One.", "Two."])
    assert two.seconds == 3 and two.timed
    assert (insert.kind, insert.size, insert.frames, insert.shot_id, insert.seed) == (
        "insert", "ECU", 48, "close", 9)
    assert three.shot_id == "s01-003"


def test_note_after_the_last_shot_is_reported() -> None:
    result = plan("INT. A - DAY\n\nJANE\nHi.\n\n[[shot: CU]]\n")
    assert any("shapes no shot" in w.message and w.line == 6 for w in result.warnings)


def test_skip_cannot_drop_dialogue() -> None:
    result = plan("INT. A - DAY\n\nx\n\n[[shot: skip]]\n\nJANE\nHi.\n")
    assert len(result.scenes[0].shots) == 2
    assert any("cannot be skipped" in w.message for w in result.warnings)


def test_manual_coverage_makes_exactly_the_noted_shots() -> None:
    text = ("Title: T\nCoverage: manual\n\nINT. A - DAY\n\nJANE and JOHN.\n\n[[shot: WS 3s]]\n\n"
            "[[shot: TWO]]\n\nJANE\nOne.\n\nJOHN\nTwo!\n\nJANE\nThree?\n\nA RANGER walks in.\n\n"
            "[[shot: MS RANGER track]]\n\nRANGER\nHello.\n\nINT. B - DAY\n\nJANE\nAuto.\n")
    result = plan(text)
    first, second = result.scenes
    assert result.manual
    assert [(s.kind, s.size, len(s.dialog)) for s in first.shots] == [
        ("establishing", "WS", 0), ("noted", "TWO", 3), ("noted", "MS", 1)]
    walker = next(c for c in first.shots[2].characters if c["name"] == "ranger")
    assert walker["action"] == "walk"
    assert [s.kind for s in second.shots] == ["establishing", "dialogue"]  # no notes: automatic


def test_dialogue_before_the_first_heading_is_reported() -> None:
    result = plan("JANE\nHello?\n\nINT. A - DAY\n\nx\n")
    assert any("before the first scene heading" in w.message and w.line == 1
               for w in result.warnings)
    assert result.prologue == ["JANE\nHello?"]


def test_size_counts_of_a_busy_scene() -> None:
    sizes = Counter(s.size for s in shots(CHAT))
    assert sizes == Counter({"MCU": 4, "OTS": 2, "WS": 1})
