"""The coqui engine for real: tiny random VITS and OpenVoice models built here, saved as a
user's downloaded model is (checkpoint + config.json in a folder), loaded through the same code.

Nothing is downloaded: the models are random, so the audio is noise-like speech-shaped sound;
what is checked is the path (config → model → synthesis/conversion → cues → cache → CLI).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

pytest.importorskip("torch")
pytest.importorskip("TTS.api")

from render_engine.audio.coqui import CoquiEngine, model_identity, model_source
from render_engine.audio.dialog import line_folder, speak_line
from render_engine.audio.voice import SHAPES, VoiceError, get_engine
from render_engine.audio.wav import write_wav
from render_engine.bible import VoiceSettings, load_production
from render_engine.cli import main
from render_engine.spec import DialogLine
from tests.conftest import make_tiny_production

pytestmark = pytest.mark.ml

LINE = "Pass the marshmallows, please."
VITS_RATE = 16000
OPENVOICE_RATE = 16000


def build_tiny_vits(folder: Path, speakers: list[str] | None = None) -> Path:
    """A random VITS with tiny layers and a character tokenizer (no phonemizer), saved as
    model.pth + config.json; multi-speaker with a speakers.json when `speakers` is given."""
    import torch
    from TTS.tts.configs.shared_configs import BaseAudioConfig, CharactersConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    folder.mkdir(parents=True, exist_ok=True)
    characters = CharactersConfig(
        characters_class="TTS.tts.models.vits.VitsCharacters", pad="_", eos="", bos="",
        blank=None, characters="abcdefghijklmnopqrstuvwxyz", punctuations=" !'(),-.:;?",
        phonemes=None, is_unique=True, is_sorted=True)
    args = VitsArgs(
        hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_heads_text_encoder=2,
        num_layers_text_encoder=1, num_layers_posterior_encoder=1, num_layers_flow=1,
        resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3, 5]],
        upsample_rates_decoder=[8, 8, 4], upsample_initial_channel_decoder=16,
        upsample_kernel_sizes_decoder=[16, 16, 8], spec_segment_size=8,
        init_discriminator=False, use_sdp=False)
    if speakers:
        (folder / "speakers.json").write_text(json.dumps({s: i for i, s in enumerate(speakers)}))
        args.use_speaker_embedding = True
        args.num_speakers = len(speakers)
        args.speakers_file = str(folder / "speakers.json")
        args.speaker_embedding_channels = 8
    audio = BaseAudioConfig(sample_rate=VITS_RATE, fft_size=1024, hop_length=256,
                            win_length=1024, num_mels=80, mel_fmax=None,
                            do_trim_silence=False)  # random audio is quiet: keep it all
    config = VitsConfig(model_args=args, audio=audio, characters=characters, use_phonemes=False,
                        text_cleaner="basic_cleaners", add_blank=True, phonemizer=None,
                        test_sentences=[])
    if speakers:
        config.use_speaker_embedding = True
        config.num_speakers = len(speakers)
        config.speakers_file = str(folder / "speakers.json")
    torch.manual_seed(0)
    model = Vits(config)
    with torch.no_grad():  # about 4 frames (64 ms) per token, as a trained model speaks
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(math.log(4.0))
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def build_tiny_openvoice(folder: Path) -> Path:
    """A random OpenVoice with tiny layers, saved as OpenVoice releases are: checkpoint.pth +
    config.json in OpenVoice's own format ("data" + "model")."""
    import torch
    from TTS.vc.configs.openvoice_config import (
        OpenVoiceArgs,
        OpenVoiceAudioConfig,
        OpenVoiceConfig,
    )
    from TTS.vc.models.openvoice import OpenVoice

    folder.mkdir(parents=True, exist_ok=True)
    model_args = {
        "zero_g": True, "inter_channels": 16, "hidden_channels": 16, "filter_channels": 32,
        "n_heads": 2, "n_layers": 1, "kernel_size": 3, "p_dropout": 0.1, "resblock": "1",
        "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]],
        "upsample_rates": [8, 8, 4], "upsample_initial_channel": 16,
        "upsample_kernel_sizes": [16, 16, 8], "gin_channels": 16}
    data = {"sampling_rate": OPENVOICE_RATE, "filter_length": 512, "hop_length": 256,
            "win_length": 512, "n_speakers": 0}
    config = OpenVoiceConfig(
        model_args=OpenVoiceArgs(**model_args),
        audio=OpenVoiceAudioConfig(input_sample_rate=OPENVOICE_RATE,
                                   output_sample_rate=OPENVOICE_RATE, fft_size=512,
                                   hop_length=256, win_length=512))
    torch.manual_seed(0)
    model = OpenVoice(config)
    torch.save({"model": model.state_dict()}, folder / "checkpoint.pth")
    (folder / "config.json").write_text(json.dumps({"_version_": "v2", "data": data,
                                                    "model": model_args}))
    return folder


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A production holding the tiny models (built once per module) and reference WAVs."""
    root = make_tiny_production(tmp_path_factory.mktemp("coqui") / "tiny")
    started = time.perf_counter()
    build_tiny_vits(root / "models" / "tiny-vits")
    build_tiny_vits(root / "models" / "tiny-vits-multi", speakers=["ada", "bo"])
    build_tiny_openvoice(root / "models" / "tiny-openvoice")
    built = time.perf_counter() - started
    reference = get_engine("espeak").synthesize(
        "The quick brown fox jumps over the lazy dog.", VoiceSettings(variant="en-us+f3",
                                                                      pitch=65))
    write_wav(root / "cast" / "jane" / "voice.wav", reference.samples, reference.rate)
    return {"root": root, "built_seconds": built}


def set_voice(root: Path, name: str, **voice: object) -> None:
    """Rewrite one cast member's voice table."""
    import tomllib

    path = root / "cast" / f"{name}.toml"
    data = tomllib.loads(path.read_text())
    data["voice"] = voice
    path.write_text(tomli_w.dumps(data))


def assert_cues_cover(cues: list, duration: float) -> None:
    """Contiguous, monotonic, from 0 to the end, valid shapes."""
    assert cues and cues[0].start == 0.0
    assert cues[-1].end == pytest.approx(duration, abs=1e-6)
    for before, after in itertools.pairwise(cues):
        assert before.end == pytest.approx(after.start)
        assert after.start > before.start
    assert all(cue.shape in SHAPES for cue in cues)


# --------------------------------------------------------------------------- models found


def test_model_folder_layouts_are_found(studio: dict[str, Any], tmp_path: Path) -> None:
    folder = studio["root"] / "models" / "tiny-vits"
    source = model_source(str(folder))
    assert source.family == "vits" and source.checkpoint == folder / "model.pth"
    assert model_source(str(folder / "model.pth")).config == folder / "config.json"
    vc = model_source(str(studio["root"] / "models" / "tiny-openvoice"))
    assert vc.family == "openvoice" and vc.is_vc
    assert model_source("tts_models/en/vctk/vits").name == "tts_models/en/vctk/vits"
    identity = model_identity(str(folder))
    assert [f[0] for f in identity["files"]] == ["config.json", "model.pth"]
    with pytest.raises(VoiceError, match="does not exist"):
        model_source(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VoiceError, match=r"no config\.json"):
        model_source(str(tmp_path / "empty"))
    (tmp_path / "empty" / "config.json").write_text('{"model": "vits"}')
    with pytest.raises(VoiceError, match="no checkpoint"):
        model_source(str(tmp_path / "empty"))


# --------------------------------------------------------------------------- synthesis


def test_tiny_vits_speaks_through_the_users_path(studio: dict[str, Any]) -> None:
    """The variant is a folder relative to the production, exactly as a user writes it."""
    root = studio["root"]
    set_voice(root, "jane", engine="coqui", variant="models/tiny-vits")
    production = load_production(root)
    assert not production.problems
    engine = get_engine("coqui")
    from render_engine.audio.casting import voice_for

    voice = voice_for(production.member("jane"), production)
    started = time.perf_counter()
    result = engine.synthesize(LINE, voice)
    first = time.perf_counter() - started
    assert result.rate == VITS_RATE
    assert result.samples.dtype == np.float32 and result.samples.ndim == 1
    assert result.samples.size > VITS_RATE // 4 and np.abs(result.samples).max() > 0
    assert np.isfinite(result.samples).all() and np.abs(result.samples).max() <= 1.0
    assert_cues_cover(result.cues, result.duration)
    starts = [start for _, start, _ in result.phonemes]
    assert starts == sorted(starts)
    espeak = get_engine("espeak").synthesize(LINE, VoiceSettings(variant="en-us"))
    assert [p for p, _, _ in result.phonemes] == [p for p, _, _ in espeak.phonemes]
    assert all(end - start >= 0.015 - 1e-9 for _, start, end in result.phonemes)
    started = time.perf_counter()
    again = engine.synthesize(LINE, voice)
    second = time.perf_counter() - started
    assert np.array_equal(again.samples, result.samples)  # seeded: a line always sounds the same
    assert isinstance(engine, CoquiEngine)
    assert engine.model(voice.variant) is engine.model(voice.variant)  # loaded once
    print(f"tiny VITS: first synthesis (load included) {first:.2f} s, next {second:.2f} s, "
          f"models built in {studio['built_seconds']:.2f} s")


def test_speed_and_pitch_drive_the_model(studio: dict[str, Any]) -> None:
    folder = str(studio["root"] / "models" / "tiny-vits")
    engine = get_engine("coqui")
    normal = engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder))
    slow = engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder, speed=0.5))
    assert slow.duration > 1.5 * normal.duration
    higher = engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder, pitch=100))
    assert higher.duration == pytest.approx(normal.duration, rel=0.15)  # pace kept
    assert_cues_cover(slow.cues, slow.duration)


def test_multi_speaker_model_picks_and_names_speakers(studio: dict[str, Any]) -> None:
    folder = str(studio["root"] / "models" / "tiny-vits-multi")
    engine = get_engine("coqui")
    ada = engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder, speaker="ada"))
    bo = engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder, speaker="bo"))
    assert not np.array_equal(ada.samples[:2000], bo.samples[:2000])
    with pytest.raises(VoiceError, match=r"no speaker 'zed'.*ada, bo"):
        engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=folder, speaker="zed"))
    single = str(studio["root"] / "models" / "tiny-vits")
    with pytest.raises(VoiceError, match="single voice"):
        engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=single, speaker="ada"))


def test_coqui_errors_are_voice_errors(studio: dict[str, Any], tmp_path: Path) -> None:
    engine = get_engine("coqui")
    folder = str(studio["root"] / "models" / "tiny-vits")
    with pytest.raises(VoiceError, match="empty"):
        engine.synthesize("  ", VoiceSettings(engine="coqui", variant=folder))
    with pytest.raises(VoiceError, match="names no model"):
        engine.synthesize(LINE, VoiceSettings(engine="coqui"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model": "vits"}))
    (broken / "model.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(VoiceError, match="could not be loaded"):
        engine.synthesize(LINE, VoiceSettings(engine="coqui", variant=str(broken)))


# --------------------------------------------------------------------------- dialog cache


def test_coqui_line_is_cached_with_its_model(studio: dict[str, Any]) -> None:
    root = studio["root"]
    set_voice(root, "john", engine="coqui", variant="models/tiny-vits")
    production = load_production(root)
    line = DialogLine(speaker="john", text="Last two. Make them count.")
    spoken = speak_line(line, production, "shot 1")
    folder = line_folder(line, production, "shot 1")
    assert (folder / "line.wav").is_file() and (folder / "cues.json").is_file()
    assert spoken.rate == 48000
    assert_cues_cover(spoken.cues, json.loads((folder / "cues.json").read_text())
                      ["metadata"]["duration"])
    set_voice(root, "john", engine="coqui", variant="models/tiny-vits-multi", speaker="bo")
    other = line_folder(line, load_production(root), "shot 1")
    assert other != folder  # another model is another line


# --------------------------------------------------------------------------- conversion


def test_tiny_openvoice_converts_a_take_keeping_its_timing(studio: dict[str, Any]) -> None:
    from render_engine.audio.conversion import convert

    root = studio["root"]
    set_voice(root, "jane", engine="coqui", variant="models/tiny-openvoice",
              reference="jane/voice.wav")
    production = load_production(root)
    assert not production.problems
    take = get_engine("piper").synthesize(LINE, VoiceSettings(engine="piper"))
    started = time.perf_counter()
    result = convert(take.samples, take.rate, production.member("jane"), production, text=LINE)
    print(f"tiny OpenVoice conversion {time.perf_counter() - started:.2f} s")
    assert result.rate == OPENVOICE_RATE
    assert result.duration == pytest.approx(take.duration, rel=0.01)
    assert np.isfinite(result.samples).all() and np.abs(result.samples).max() > 0
    assert_cues_cover(result.cues, result.duration)


def test_openvoice_as_a_voice_speaks_through_piper(studio: dict[str, Any]) -> None:
    root = studio["root"]
    voice = VoiceSettings(engine="coqui", variant=str(root / "models" / "tiny-openvoice"),
                          reference=str(root / "cast" / "jane" / "voice.wav"))
    result = get_engine("coqui").synthesize(LINE, voice)
    assert [p for p, _, _ in result.phonemes][:2] == ["P", "AE"]
    assert_cues_cover(result.cues, result.duration)
    with pytest.raises(VoiceError, match="reference"):
        get_engine("coqui").synthesize(LINE, voice.model_copy(update={"reference": None}))


# --------------------------------------------------------------------------- CLI


def test_cast_voice_and_voice_test_with_a_coqui_model(studio: dict[str, Any], capsys) -> None:
    root = studio["root"]
    folder = root / "models" / "tiny-vits"
    assert main(["cast", "voice", "john", "--engine", "coqui", "--model", str(folder),
                 "--speaker", "", "--speed", "1.1", "--production", str(root)]) == 0
    production = load_production(root)
    assert production.member("john").voice.variant == "models/tiny-vits"  # stored relative
    assert not production.problems
    out = root / "renders" / "john-test.wav"
    assert main(["voice", "test", "john", LINE, "-o", str(out), "--production", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "coqui" in printed and "Hz" in printed
    assert out.is_file() and out.with_suffix(".json").is_file()
