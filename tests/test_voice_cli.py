"""`soloreel voice test|convert`, `soloreel cast voice` and `soloreel dialog`, end to end."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from render_engine.audio.pitch import estimate_f0
from render_engine.audio.voice import synthesize
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import VoiceSettings, load_production
from render_engine.cli import main
from render_engine.timeline_io import write_timeline
from tests.conftest import make_clip, make_timeline, spec_dict

LINE = "Pass the marshmallows."


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI; (exit code, stdout, stderr)."""
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def voice_of(root: Path, name: str) -> dict:
    """The voice table of cast/NAME.toml as written."""
    return tomllib.loads((root / "cast" / f"{name}.toml").read_text()).get("voice", {})


# --------------------------------------------------------------------------- voice test


def test_voice_test_saves_wav_and_cues_and_prints_them(tiny_production: Path, capsys,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_production / "cast")  # found by walking up from here
    code, out, _ = run(["voice", "test", "jane", LINE], capsys)
    assert code == 0
    wav = tiny_production / "renders" / "voice-tests" / "jane-pass-the-marshmallows.wav"
    cues = json.loads(wav.with_suffix(".json").read_text())
    samples, rate = read_audio_any(wav)
    assert rate == 48000 and 0.5 < samples.size / rate < 3.0
    assert cues["metadata"]["soundFile"] == wav.name
    assert cues["mouthCues"][0]["start"] == 0.0
    first, second = out.strip().splitlines()
    f0 = float(re.search(r"F0 (\d+) Hz", first).group(1))
    assert f0 == pytest.approx(estimate_f0(samples, rate), rel=0.05)
    assert re.fullmatch(r"[A-HX]+", second) and len(second) == round(samples.size / rate * 24)
    assert second[0] == "A"  # "Pass" starts on closed lips


def test_voice_test_output_option(tiny_production: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "out" / "line.wav"
    code, _, _ = run(["voice", "test", "john", "Hello there.", "-o", str(target),
                      "--production", str(tiny_production)], capsys)
    assert code == 0 and target.is_file() and target.with_suffix(".json").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["voice", "test", "bob", LINE], r'unknown character "bob"; known: jane, john'),
    (["voice", "test", "jane", "   "], r"empty"),
])
def test_voice_test_errors_are_one_line(tiny_production: Path, capsys, args: list[str],
                                        message: str) -> None:
    code, _, err = run([*args, "--production", str(tiny_production)], capsys)
    assert code == 1
    assert re.search(message, err) and len(err.strip().splitlines()) == 1
    assert not (tiny_production / "renders" / "voice-tests").exists()


# --------------------------------------------------------------------------- voice convert


def test_voice_convert_keeps_timing_and_moves_pitch(tiny_production: Path, tmp_path: Path,
                                                    capsys) -> None:
    assert run(["cast", "voice", "jane", "--variant", "en-us+f3", "--pitch", "65",
                "--production", str(tiny_production)], capsys)[0] == 0
    take = synthesize("It always does, right before the owls start.",
                      VoiceSettings(variant="en-us+m3", pitch=30))
    write_wav(tmp_path / "take3.wav", take.samples, take.rate)
    out = tmp_path / "line.wav"
    code, printed, _ = run(["voice", "convert", "jane", str(tmp_path / "take3.wav"), "-o",
                            str(out), "--text", "It always does, right before the owls start.",
                            "--production", str(tiny_production)], capsys)
    assert code == 0
    samples, rate = read_audio_any(out)
    assert samples.size / rate == pytest.approx(take.duration, rel=0.01)
    assert estimate_f0(samples, rate) > 1.5 * estimate_f0(take.samples, take.rate)
    assert "take:" in printed and out.with_suffix(".json").is_file()


def test_voice_convert_unreadable_take(tiny_production: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "take9.wav"
    bad.write_bytes(b"not audio at all" * 30)
    out = tmp_path / "line.wav"
    code, _, err = run(["voice", "convert", "jane", str(bad), "-o", str(out),
                        "--production", str(tiny_production)], capsys)
    assert code == 1 and "take9.wav" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --------------------------------------------------------------------------- cast voice


def test_cast_voice_switches_engine_and_validates(tiny_production: Path, capsys) -> None:
    prod = ["--production", str(tiny_production)]
    assert run(["cast", "voice", "jane", "--engine", "espeak", "--variant", "en-us+f3",
                "--pitch", "64", *prod], capsys)[0] == 0
    assert voice_of(tiny_production, "jane") == {"engine": "espeak", "variant": "en-us+f3",
                                                 "pitch": 64.0}
    assert run(["cast", "voice", "jane", "--engine", "piper", "--speed", "1.1", *prod],
               capsys)[0] == 0
    assert voice_of(tiny_production, "jane") == {"engine": "piper", "pitch": 64.0,
                                                 "speed": 1.1}  # espeak's variant dropped
    production = load_production(tiny_production)
    assert not production.problems and production.member("jane").voice.engine == "piper"
    assert production.member("jane").trigger == "JaneTrigger"  # other fields kept


@pytest.mark.parametrize(("args", "message"), [
    (["--pitch", "300"], r"voice\.pitch"),
    (["--variant", "en-us+nosuchvoice"], r"nosuchvoice"),
    (["--engine", "coqui"], r"needs a model"),
    (["--model", "models/x"], r"--engine coqui"),
    (["--engine", "coqui", "--model", "no/such/folder"], r"does not exist"),
    (["--reference", "missing.wav"], r"missing\.wav"),
])
def test_cast_voice_rejects_bad_settings_and_writes_nothing(
        tiny_production: Path, capsys, args: list[str], message: str) -> None:
    path = tiny_production / "cast" / "jane.toml"
    before = path.read_bytes()
    code, _, err = run(["cast", "voice", "jane", *args, "--production", str(tiny_production)],
                       capsys)
    assert code == 1 and re.search(message, err), err
    assert path.read_bytes() == before
    assert not (tiny_production / "cast" / "jane" / "voice-reference.wav").exists()


def test_cast_voice_copies_an_outside_reference_in(tiny_production: Path, tmp_path: Path,
                                                   capsys) -> None:
    source = synthesize("The quick brown fox jumps over the lazy dog.",
                        VoiceSettings(variant="en-us+f3"))
    write_wav(tmp_path / "jane-sample.wav", source.samples, source.rate)
    code, out, _ = run(["cast", "voice", "jane", "--reference", str(tmp_path / "jane-sample.wav"),
                        "--production", str(tiny_production)], capsys)
    assert code == 0 and "copying" in out
    assert voice_of(tiny_production, "jane")["reference"] == "jane/voice-reference.wav"
    copied = tiny_production / "cast" / "jane" / "voice-reference.wav"
    assert copied.read_bytes() == (tmp_path / "jane-sample.wav").read_bytes()
    assert not load_production(tiny_production).problems
    assert run(["cast", "voice", "jane", "--no-reference", "--production",
                str(tiny_production)], capsys)[0] == 0
    assert "reference" not in voice_of(tiny_production, "jane")


def test_cast_voice_unknown_character(tiny_production: Path, capsys) -> None:
    code, _, err = run(["cast", "voice", "bob", "--pitch", "40", "--production",
                        str(tiny_production)], capsys)
    assert code == 1 and 'unknown character "bob"; known: jane, john' in err


# --------------------------------------------------------------------------- dialog


def write_edit(root: Path, clips: list[otio.schema.Clip]) -> Path:
    """Save a timeline inside the production's timelines/ folder."""
    path = root / "timelines" / "cut.otio"
    write_timeline(make_timeline(clips), path)
    return path


def test_dialog_command_writes_tracks(tiny_production: Path, capsys) -> None:
    edit = write_edit(tiny_production, [
        make_clip(spec_dict("s-001"), name="JANE"),
        make_clip(spec_dict("s-002", dialog=[{"speaker": "john", "text": "Hello.",
                                              "start": 0.2}]), name="JOHN")])
    before = edit.read_bytes()
    out = edit.with_name("cut.dialog.otio")
    code, printed, _ = run(["dialog", str(edit), "-o", str(out)], capsys)
    assert code == 0 and edit.read_bytes() == before
    timeline = otio.adapters.read_from_file(str(out))
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John", "Room tone"]
    assert "2 line(s) on 3 track(s)" in printed and "follows its dialog" in printed
    assert run(["dialog", str(edit), "-o", str(out), "--no-room-tone"], capsys)[0] == 0
    timeline = otio.adapters.read_from_file(str(out))
    assert [t.name for t in timeline.audio_tracks()] == ["Jane", "John"]


def test_dialog_command_error_names_the_clip(tiny_production: Path, capsys) -> None:
    edit = write_edit(tiny_production, [
        make_clip(spec_dict("s-001"), name="JANE"),
        make_clip(spec_dict("s-002", dialog=[{"speaker": "zed", "text": "Boo."}]),
                  name="ZED")])
    out = edit.with_name("never.otio")
    code, _, err = run(["dialog", str(edit), "-o", str(out)], capsys)
    assert code == 1
    assert 'shot 2 "ZED"' in err and 'unknown character "zed"; known: jane, john' in err
    assert not out.exists()
    audio = tiny_production / "renders" / "audio"
    for entry in audio.iterdir() if audio.is_dir() else []:
        assert not entry.name.startswith(".tmp")
        assert sorted(p.name for p in entry.iterdir()) == ["cues.json", "line.wav"]
    assert np.all([entry.is_dir() for entry in audio.iterdir()])
