"""The render queue's shared records: job states and one job row, with no heavy imports.

Kept apart from the store (`queue.store`), the runners (`queue.runner`, `queue.farm`) and the
command line so each of them (and `status`) can read a job without importing the others."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PENDING, RUNNING, DONE, PARKED, CANCELLED, PAUSED = (
    "pending", "running", "done", "parked", "cancelled", "paused")
STATES = (PENDING, RUNNING, DONE, PARKED, CANCELLED, PAUSED)
"""pending: waits for a worker; running: leased by one (`worker`, `lease_until`); done: its
render is in the cache (`result`); parked: failed `max_attempts` times (`error` says why);
cancelled / paused: left alone until `queue retry` / `queue resume`."""
OPEN_STATES = (PENDING, RUNNING)
"""States a runner waits on before it stops (`queue run` ends when none is left)."""

DEFAULT_MAX_ATTEMPTS = 3
"""Failures (a render error or a lost worker) after which a job is parked."""
DEFAULT_LEASE_S = 60.0
"""How long a worker's claim lasts without a heartbeat; a killed worker's job is pending
again this long after its last heartbeat."""


def job_key(tier: str, content_hash: str, first: int, end: int) -> str:
    """The identity of a job: the render it produces (tier, content hash, frame range)."""
    return f"{tier}/{content_hash}/f{first}_{end}"


@dataclass
class Job:
    """One queued render: what to render (the spec and frames, as `render.ShotWork` needs
    them), how the GPU likes it batched (model, adapter sets, VRAM), and where it stands."""

    tier: str
    shot_id: str
    label: str
    content_hash: str
    first: int
    end: int
    shown: tuple[int, int]
    spec: dict[str, Any]
    quality: str = "full"
    model: str = ""
    """The final tier's model name ("" for the CPU tiers): workers batch by it."""
    adapters: list[list[list[Any]]] = field(default_factory=list)
    """The LoRA adapter set of each Wan pass (`final.batch.render_sets`), as JSON lists."""
    vram_gib: float = 0.0
    """Peak GPU memory the render needs (`final.memory` estimate; 0: CPU)."""
    estimate_s: float = 0.0
    """Seconds the render is expected to take (the dry run's cost model)."""
    steps: int = 0
    """Final tier: transformer forwards the render takes (denoising steps × CFG passes ×
    segments × layers, `final.cost`); its progress counts them. 0: progress counts frames."""
    priority: int = 0
    id: int = 0
    state: str = PENDING
    attempts: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    error: str = ""
    reason: str = ""
    """Why a pending job is not being worked (e.g. no worker has the VRAM it needs)."""
    worker: str = ""
    lease_until: float = 0.0
    progress_done: int = 0
    progress_total: int = 0
    added: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    result: str = ""
    """The cache entry's folder once done."""

    @property
    def key(self) -> str:
        return job_key(self.tier, self.content_hash, self.first, self.end)

    @property
    def frames(self) -> int:
        return self.end - self.first

    @property
    def work_units(self) -> int:
        """What progress counts to: transformer forwards for a final, else frames."""
        return self.steps or self.frames

    def adapter_sets(self) -> list[tuple[tuple[str, str, float], ...]]:
        """The adapter sets as the batch planner's tuples."""
        return [tuple((str(n), str(p), float(w)) for n, p, w in s) for s in self.adapters]

    def to_row(self) -> dict[str, Any]:
        """The job as the columns of the jobs table."""
        return {"key": self.key, "tier": self.tier, "shot_id": self.shot_id,
                "label": self.label, "content_hash": self.content_hash,
                "first_frame": self.first, "end_frame": self.end,
                "shown_first": self.shown[0], "shown_end": self.shown[1],
                "spec": json.dumps(self.spec, sort_keys=True), "quality": self.quality,
                "model": self.model, "adapters": json.dumps(self.adapters),
                "vram_gib": self.vram_gib, "estimate_s": self.estimate_s, "steps": self.steps,
                "priority": self.priority, "state": self.state, "attempts": self.attempts,
                "max_attempts": self.max_attempts, "error": self.error, "reason": self.reason,
                "worker": self.worker, "lease_until": self.lease_until,
                "progress_done": self.progress_done, "progress_total": self.progress_total,
                "added": self.added, "started": self.started, "finished": self.finished,
                "result": self.result}

    @classmethod
    def from_row(cls, row: Any) -> Job:
        """A job from a `sqlite3.Row` of the jobs table."""
        return cls(tier=row["tier"], shot_id=row["shot_id"], label=row["label"],
                   content_hash=row["content_hash"], first=row["first_frame"],
                   end=row["end_frame"], shown=(row["shown_first"], row["shown_end"]),
                   spec=json.loads(row["spec"]), quality=row["quality"], model=row["model"],
                   adapters=json.loads(row["adapters"]), vram_gib=row["vram_gib"],
                   estimate_s=row["estimate_s"], steps=row["steps"],
                   priority=row["priority"], id=row["id"],
                   state=row["state"], attempts=row["attempts"],
                   max_attempts=row["max_attempts"], error=row["error"],
                   reason=row["reason"], worker=row["worker"],
                   lease_until=row["lease_until"], progress_done=row["progress_done"],
                   progress_total=row["progress_total"], added=row["added"],
                   started=row["started"], finished=row["finished"], result=row["result"])
