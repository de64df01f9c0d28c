"""Same text, voice and settings → the same samples, in any order and in any process.

Spoken lines are cached under a hash of their text and voice, and the renders that mix them
under the shot's hash: a voice that says a line differently depending on what it said before
(espeak's synthesiser state) or on the machine's threads (piper's model) breaks the promise
that one hash is one set of bytes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from render_engine.audio.tracks import attach_dialog_tracks
from render_engine.audio.voice import SpeechResult, synthesize
from render_engine.bible import VoiceSettings, load_production
from render_engine.spec import read_spec
from render_engine.timeline_io import read_timeline
from tests.conftest import (
    DEMO_SOURCE,
    REPO,
    make_clip,
    make_timeline,
    make_tiny_production,
    spec_dict,
)

Line = tuple[str, str]


def demo_voices() -> dict[str, VoiceSettings]:
    """The demo cast's voices (Jane and the ranger on espeak variants, John on piper)."""
    return {path.stem: VoiceSettings(**tomllib.loads(path.read_text())["voice"])
            for path in sorted((DEMO_SOURCE / "cast").glob("*.toml"))}


def demo_lines() -> list[Line]:
    """Every distinct (speaker, text) of the demo edit, in edit order."""
    timeline = read_timeline(DEMO_SOURCE / "timelines" / "campfire.otio")
    lines: list[Line] = []
    for clip in timeline.video_tracks()[0].find_clips():
        spec = read_spec(clip)
        for line in spec.dialog if spec else []:
            if (line.speaker, line.text) not in lines:
                lines.append((line.speaker, line.text))
    return lines


def fingerprint(result: SpeechResult) -> str:
    """Samples (exact bytes), rate, mouth cues and phoneme timings as one digest."""
    sha = hashlib.sha256(result.samples.tobytes())
    sha.update(json.dumps([result.rate, [(c.start, c.end, c.shape) for c in result.cues],
                           result.phonemes]).encode())
    return sha.hexdigest()


def speak_all(lines: list[Line], voices: dict[str, VoiceSettings]) -> dict[str, str]:
    """Each line's fingerprint, spoken in the given order."""
    return {f"{speaker}: {text}": fingerprint(synthesize(text, voices[speaker]))
            for speaker, text in lines}


SUBPROCESS = """
import json, sys
from tests.test_voice_determinism import demo_lines, demo_voices, speak_all
lines = demo_lines()
print(json.dumps(speak_all(lines[::-1] if sys.argv[1] == "reversed" else lines, demo_voices())))
"""


@pytest.fixture(scope="module")
def in_order() -> dict[str, str]:
    """The demo's lines spoken in edit order in this process."""
    return speak_all(demo_lines(), demo_voices())


def test_the_demo_speaks_three_voices_on_both_engines() -> None:
    voices, lines = demo_voices(), demo_lines()
    assert {voices[speaker].engine for speaker, _ in lines} == {"espeak", "piper"}
    assert len({speaker for speaker, _ in lines}) == 3 and len(lines) >= 6


def test_same_samples_in_any_order_in_one_process(in_order: dict[str, str]) -> None:
    lines, voices = demo_lines(), demo_voices()
    assert speak_all(lines[::-1], voices) == in_order
    # the ranger alone, right after Jane, twice in a row: always the same samples
    ranger = next(line for line in lines if line[0] == "ranger")
    jane = next(line for line in lines if line[0] == "jane")
    for order in ([ranger], [jane, ranger], [ranger, ranger], [jane, jane, ranger]):
        spoken = [fingerprint(synthesize(text, voices[who])) for who, text in order]
        assert spoken[-1] == in_order[f"{ranger[0]}: {ranger[1]}"], order


def test_piper_runs_its_model_on_one_thread() -> None:
    """onnxruntime splits sums across its intra-op threads: the samples followed the number of
    cores (and varied from run to run on a busy pool); one thread is the same everywhere."""
    from render_engine.audio.voice import get_engine

    session = get_engine("piper")._voice("joe").voice.session  # type: ignore[attr-defined]
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


@pytest.mark.parametrize("order", ["forward", "reversed"])
def test_same_samples_in_another_process(in_order: dict[str, str], order: str) -> None:
    done = subprocess.run([sys.executable, "-c", SUBPROCESS, order], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == in_order


def _voiced_production(root: Path) -> Path:
    """The tiny production with Jane and John on two espeak variants and a piper ranger."""
    make_tiny_production(root)
    voices = {"jane": {"engine": "espeak", "variant": "en-us+f3", "pitch": 62},
              "john": {"engine": "espeak", "variant": "en-us+m7", "pitch": 30, "speed": 0.9},
              "ranger": {"engine": "piper", "variant": "joe"}}
    john = tomllib.loads((root / "cast" / "john.toml").read_text())
    (root / "cast" / "ranger.toml").write_text(tomli_w.dumps(
        {**john, "name": "ranger", "trigger": "RangerTrigger"}))
    for name, voice in voices.items():
        path = root / "cast" / f"{name}.toml"
        data = tomllib.loads(path.read_text())
        data["voice"] = voice
        path.write_text(tomli_w.dumps(data))
    return root


def _shots() -> list:
    """Three shots whose lines alternate between the three voices."""
    cast = [{"name": name, "position": [x, 3.0]}
            for name, x in (("jane", -1.0), ("john", 0.0), ("ranger", 1.0))]

    def say(speaker: str, text: str, start: float) -> dict:
        return {"speaker": speaker, "text": text, "start": start}

    return [
        make_clip(spec_dict("s-1", characters=cast, dialog=[
            say("jane", "Pass the marshmallows.", 0.2),
            say("john", "Last two. Make them count.", 1.6)]), "ONE", 72),
        make_clip(spec_dict("s-2", characters=cast, dialog=[
            say("ranger", "Evening, folks. Fire ban starts at midnight.", 0.0),
            say("jane", "You hear that?", 3.0)]), "TWO", 96),
        make_clip(spec_dict("s-3", characters=cast, dialog=[
            say("john", "It always does, right before the owls start.", 0.0)]), "THREE", 72),
    ]


def _line_files(root: Path) -> dict[str, bytes]:
    """Every spoken line's WAV and cues in the production's cache, by cache path."""
    folder = root / "renders" / "audio"
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.glob("*/*")) if path.suffix in (".wav", ".json")}


def test_dialog_rendered_in_two_orders_gives_identical_wavs(tmp_path: Path) -> None:
    first, second = _voiced_production(tmp_path / "a"), _voiced_production(tmp_path / "b")
    attach_dialog_tracks(make_timeline(_shots()), load_production(first))
    attach_dialog_tracks(make_timeline(_shots()[::-1]), load_production(second))
    files_a, files_b = _line_files(first), _line_files(second)
    assert len(files_a) == 2 * 5  # five distinct lines: a WAV and cues each
    assert files_a.keys() == files_b.keys()
    differing = [name for name in files_a if files_a[name] != files_b[name]]
    assert not differing
