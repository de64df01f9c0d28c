"""Runs `soloreel render` in a child process with an instrumented renderer.

Usage: python -m tests.render_worker LOG DELAY -- <soloreel args>

Every shot the renderer starts appends a line to LOG (O_APPEND, so concurrent processes can
share it), and each frame sleeps DELAY seconds, so tests can count renders and kill a render
part-way.
"""

from __future__ import annotations

import os
import sys
import time

import render_engine.render as render_module
from render_engine.cli import main
from render_engine.tiers import placeholder


def _instrumented(log: str, delay: float):
    def render(job):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {job.spec.shot.id} {job.first} {job.end}\n")
        original = job.progress

        def slow_progress(frames: int) -> None:
            time.sleep(delay)
            original(frames)

        job.progress = slow_progress
        return placeholder.render(job)

    return render


if __name__ == "__main__":
    log_path, delay_text, separator, *cli_args = sys.argv[1:]
    assert separator == "--"
    renderer = _instrumented(log_path, float(delay_text))
    render_module.renderer_for = lambda tier: renderer
    sys.exit(main(cli_args))
