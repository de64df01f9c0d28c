"""The status picture of an edit: one bar per shot along the timeline.

Each bar spans the shot's place in the edit, coloured by the best tier rendered for it and
hatched when that render is stale (the spec changed since, or the cut outgrew it); above it,
the estimated GPU minutes its final still needs. The title totals the GPU minutes still to
spend — the figure `render --tier final --dry-run` totals — because a creator deciding whether
to start a final render would rather look than read a table.
"""

from __future__ import annotations

from pathlib import Path

from render_engine.review.shots import Review
from render_engine.review.storyboard import final_fact

COLORS = {"final": "#2ea043", "proxy": "#3b7dd8", "placeholder": "#d29922", None: "#c9ccd1"}
LABELS = {"final": "final", "proxy": "proxy", "placeholder": "placeholder", None: "nothing yet"}


def write_status_plot(review: Review, path: Path, dpi: int = 120) -> Path:
    """Draw the status plot to `path` (any format matplotlib writes: .png, .svg, .pdf)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    seconds = max(review.frames / review.fps, 1e-3)
    width = min(24.0, max(9.0, 1.1 * len(review.shots) + 3))
    figure, axes = plt.subplots(figsize=(width, 3.4), dpi=dpi)
    from render_engine.queue.store import queue_notes  # the render queue's jobs

    queued = queue_notes(review.production.root) if review.production is not None else {}
    try:
        top = 1.0
        for shot in review.shots:
            tier, stale = shot.best_any
            start, length = shot.record_start / review.fps, shot.frames / review.fps
            axes.barh(0, length, left=start, height=0.62, color=COLORS[tier],
                      edgecolor="#30343b", linewidth=1.2, hatch="///" if stale else None)
            axes.text(start + length / 2, 0, f"{shot.shot_id}\n{shot.seconds:.1f} s",
                      ha="center", va="center", fontsize=8, color="#111")
            note = final_fact(shot).removeprefix("final ≈ ")
            note += f"\n{queued[shot.shot_id]}" if shot.shot_id in queued else ""
            axes.text(start + length / 2, 0.42, note, ha="center", va="bottom", fontsize=8,
                      color="#444")
        axes.set_xlim(0, seconds)
        axes.set_ylim(-0.5, top)
        axes.set_yticks([])
        axes.set_xlabel("edit time (s)")
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.set_title(
            f"{review.title}: {len(review.shots)} shots, {seconds:.1f} s — "
            f"{review.final_total_text()}"
            + (f"\n{review.final_source()}" if review.final_problem is None else ""),
            fontsize=10, loc="left")
        present = {s.best_any[0] for s in review.shots}
        handles = [Patch(facecolor=COLORS[t], edgecolor="#30343b", label=LABELS[t])
                   for t in ("final", "proxy", "placeholder", None) if t in present]
        if any(s.best_any[1] for s in review.shots):
            handles.append(Patch(facecolor="white", edgecolor="#30343b", hatch="///",
                                 label="stale (changed, or the cut outgrew it)"))
        axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28),
                    ncol=len(handles), frameon=False, fontsize=8)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path
