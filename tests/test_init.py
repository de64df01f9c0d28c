"""`soloreel init`: a new production that validates, and refuses to clobber one."""

from __future__ import annotations

from pathlib import Path

from render_engine.bible import load_production
from render_engine.cli import main


def test_init_creates_layout_and_refuses_twice(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "my-film"
    assert main(["init", str(folder)]) == 0
    for sub in ("cast", "sets", "scripts", "timelines", "renders"):
        assert (folder / sub).is_dir()
    production = load_production(folder)
    assert production.problems == []
    assert production.settings.production.name == "My Film"
    assert production.settings.tier("proxy").width == 1280
    assert main(["init", str(folder)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_cli_conventions(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "validate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
