"""The persistent render queue: one SQLite file in the production, safe for many processes.

SQLite in WAL mode lets readers (`queue list`, `status`) run while a worker writes, and every
state change is one short transaction; a claim is `BEGIN IMMEDIATE` (the write lock taken
before reading), so two runners — on one machine or on a farm's head node after a restart —
never lease the same job (https://www.sqlite.org/wal.html, https://www.sqlite.org/lang_transaction.html).
A lease lasts `lease_s` past the worker's last heartbeat: a killed worker's job is pending
again once it runs out, counted as a failed attempt, and a job that fails `max_attempts`
times is parked with its error.

Claims batch the way the GPU likes it (the batch planner's rule, `final.batch.order_plans`,
applied to a queue): among the pending jobs of the highest priority, a worker takes one for
the model it has loaded, and among those the one needing the fewest LoRA adapter loads and
switches from its adapters (`final.adapters.AdapterState`), before switching models.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from render_engine.errors import SoloreelError
from render_engine.final.adapters import AdapterState, replay
from render_engine.queue.records import (
    CANCELLED,
    DEFAULT_LEASE_S,
    DONE,
    OPEN_STATES,
    PARKED,
    PAUSED,
    PENDING,
    RUNNING,
    Job,
)

QUEUE_FILE = "queue.sqlite"
"""The queue's file, at the top of the production folder (beside soloreel.toml)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL, shot_id TEXT NOT NULL, label TEXT NOT NULL,
    content_hash TEXT NOT NULL, first_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL,
    shown_first INTEGER NOT NULL, shown_end INTEGER NOT NULL, spec TEXT NOT NULL,
    quality TEXT NOT NULL, model TEXT NOT NULL, adapters TEXT NOT NULL,
    vram_gib REAL NOT NULL, estimate_s REAL NOT NULL, steps INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    error TEXT NOT NULL, reason TEXT NOT NULL, worker TEXT NOT NULL,
    lease_until REAL NOT NULL, progress_done INTEGER NOT NULL,
    progress_total INTEGER NOT NULL, added REAL NOT NULL, started REAL NOT NULL,
    finished REAL NOT NULL, result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, priority);
"""


def queue_path(production_root: Path | str) -> Path:
    """The queue file of a production."""
    return Path(production_root) / QUEUE_FILE


@dataclass
class Worker:
    """What a worker can take and what it has loaded (the claim's batching inputs)."""

    name: str
    tiers: tuple[str, ...] = ("placeholder", "proxy", "final")
    vram_gib: float | None = None
    """GPU memory it offers; None: no limit known (a local run trusts the card)."""
    model: str = ""
    """The model it has loaded ("" for none)."""
    adapters: dict[str, AdapterState] = field(default_factory=dict)
    """Its simulated LoRA state per loaded model (`final.adapters`)."""

    def took(self, job: Job) -> None:
        """Record that it renders `job`: its model is loaded, its adapters active."""
        if job.model:
            self.model = job.model
            replay(job.adapter_sets(), self.adapters.setdefault(job.model, AdapterState()))


@dataclass(frozen=True)
class AddResult:
    """What `add` did to one job: "added", "exists" (the same render is queued already; its
    priority raised if asked), "done" (cached: done at once) or "requeued" (a cancelled or
    parked job pending again)."""

    job: Job
    action: str


class JobQueue:
    """The jobs of one production (`queue_path`)."""

    def __init__(self, path: Path | str, lease_s: float = DEFAULT_LEASE_S):
        self.path = Path(path)
        self.lease_s = lease_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @classmethod
    def of(cls, production_root: Path | str, lease_s: float = DEFAULT_LEASE_S) -> JobQueue:
        """The queue of a production folder (created on first use)."""
        return cls(queue_path(production_root), lease_s)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened once per thread and process: closing a WAL
        connection checkpoints, which would cost more than the job's own transaction)."""
        held = getattr(self._local, "db", None)
        if held is None or held[0] != os.getpid():
            try:
                db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            except sqlite3.Error as exc:
                raise SoloreelError(f"render queue {self.path}: cannot open it ({exc}); "
                                    "check the folder is writable") from None
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA synchronous=NORMAL")
            held = self._local.db = (os.getpid(), db)
        yield held[1]

    def close(self) -> None:
        """Close this thread's connection (others close when their thread's state goes)."""
        held = getattr(self._local, "db", None)
        if held is not None and held[0] == os.getpid():
            held[1].close()
        self._local.db = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, the write lock held from its start."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- adding ---------------------------------------------------------------------------

    def add(self, jobs: Iterable[Job], now: float | None = None) -> list[AddResult]:
        """Queue jobs, one per render: a job whose key is queued already is that job (its
        priority raised to the higher one; a cancelled or parked one pending again), a job
        given in state `done` (its render is cached) is recorded done."""
        now = time.time() if now is None else now
        results = []
        with self._write() as db:
            for job in jobs:
                row = db.execute("SELECT * FROM jobs WHERE key = ?", (job.key,)).fetchone()
                if row is None:
                    job.added = now
                    if job.state == DONE:
                        job.finished = now
                    columns = job.to_row()
                    cursor = db.execute(
                        f"INSERT INTO jobs ({', '.join(columns)}) VALUES "
                        f"({', '.join('?' * len(columns))})", tuple(columns.values()))
                    job.id = int(cursor.lastrowid or 0)
                    results.append(AddResult(job, DONE if job.state == DONE else "added"))
                    continue
                old = Job.from_row(row)
                action = "exists"
                if job.state == DONE and old.state != DONE:
                    old.state, old.result, old.finished = DONE, job.result, now
                    action = DONE
                elif old.state in (CANCELLED, PARKED) or (old.state == DONE and
                                                          job.state != DONE):
                    old.state, old.attempts, old.error, old.result = PENDING, 0, "", ""
                    action = "requeued"
                old.priority = max(old.priority, job.priority)
                self._save(db, old)
                results.append(AddResult(old, action))
        return results

    @staticmethod
    def _save(db: sqlite3.Connection, job: Job) -> None:
        columns = job.to_row()
        db.execute(f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                   (*columns.values(), job.id))

    # -- reading --------------------------------------------------------------------------

    def jobs(self, states: Sequence[str] | None = None) -> list[Job]:
        """Every job (of these states), highest priority first, then oldest."""
        with self._connect() as db:
            if states:
                rows = db.execute(
                    f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))}) "
                    "ORDER BY priority DESC, id", tuple(states)).fetchall()
            else:
                rows = db.execute("SELECT * FROM jobs ORDER BY priority DESC, id").fetchall()
        return [Job.from_row(r) for r in rows]

    def get(self, job_id: int) -> Job:
        """One job by id; a SoloreelError naming `queue list` when there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise SoloreelError(f"render queue: no job {job_id}; `soloreel queue list` shows "
                                "the jobs and their ids")
        return Job.from_row(row)

    def counts(self) -> dict[str, int]:
        """Jobs per state."""
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            return {r["state"]: r["n"] for r in rows}

    # -- leasing --------------------------------------------------------------------------

    def expire(self, db: sqlite3.Connection, now: float) -> None:
        """Jobs whose lease ran out (their worker died or hangs) count a failed attempt and
        are pending again — parked once they reach their attempts."""
        rows = db.execute("SELECT * FROM jobs WHERE state = ? AND lease_until < ?",
                          (RUNNING, now)).fetchall()
        for row in rows:
            job = Job.from_row(row)
            self._failed(job, f"worker {job.worker} stopped answering (its lease ran out "
                         "mid-render)", now)
            self._save(db, job)

    def claim(self, worker: Worker, now: float | None = None) -> Job | None:
        """Lease the next job for `worker` (see the module docstring), or None. Pending jobs
        needing more VRAM than it offers get a `reason` and stay pending."""
        now = time.time() if now is None else now
        with self._write() as db:
            self.expire(db, now)
            marks = ", ".join("?" * len(worker.tiers))
            rows = db.execute(f"SELECT * FROM jobs WHERE state = ? AND tier IN ({marks}) "
                              "ORDER BY priority DESC, id", (PENDING, *worker.tiers)).fetchall()
            candidates = []
            for row in rows:
                job = Job.from_row(row)
                if worker.vram_gib is not None and job.vram_gib > worker.vram_gib:
                    continue
                candidates.append(job)
            if not candidates:
                return None
            job = pick(candidates, worker)
            job.state, job.worker, job.lease_until = RUNNING, worker.name, now + self.lease_s
            job.started, job.reason, job.progress_done = now, "", 0
            job.progress_total = job.work_units
            self._save(db, job)
        worker.took(job)
        return job

    def set_reason(self, job_ids: Iterable[int], reason: str) -> None:
        """Say why pending jobs wait (shown by `queue list`)."""
        with self._write() as db:
            for job_id in job_ids:
                db.execute("UPDATE jobs SET reason = ? WHERE id = ? AND state = ?",
                           (reason, job_id, PENDING))

    def heartbeat(self, job_id: int, worker: str, done: int | None = None,
                  total: int | None = None, now: float | None = None) -> bool:
        """Extend a lease and record progress; False when the job is no longer this worker's
        (cancelled, or its lease ran out and another worker has it)."""
        now = time.time() if now is None else now
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET lease_until = ?, progress_done = COALESCE(?, progress_done), "
                "progress_total = COALESCE(?, progress_total) "
                "WHERE id = ? AND worker = ? AND state = ?",
                (now + self.lease_s, done, total, job_id, worker, RUNNING))
            return cursor.rowcount == 1

    def complete(self, job_id: int, worker: str, result: str, now: float | None = None) -> None:
        """The job's render is in the cache at `result` (the last failure, if any, stays in
        `error` as history)."""
        now = time.time() if now is None else now
        with self._write() as db:
            db.execute("UPDATE jobs SET state = ?, result = ?, finished = ?, "
                       "progress_done = progress_total, lease_until = 0 "
                       "WHERE id = ? AND worker = ? AND state = ?",
                       (DONE, result, now, job_id, worker, RUNNING))

    @staticmethod
    def _failed(job: Job, error: str, now: float) -> None:
        job.attempts += 1
        job.error, job.lease_until, job.finished = error, 0.0, now
        job.state = PARKED if job.attempts >= job.max_attempts else PENDING

    def fail(self, job_id: int, worker: str, error: str, now: float | None = None) -> Job:
        """Record a failed attempt: pending again, or parked with `error` after
        `max_attempts`."""
        now = time.time() if now is None else now
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            job = Job.from_row(row)
            if job.state == RUNNING and job.worker == worker:
                self._failed(job, error, now)
                self._save(db, job)
        return job

    def park(self, job_id: int, error: str) -> None:
        """Park a job at once (retrying cannot help it, e.g. its shot changed)."""
        with self._write() as db:
            db.execute("UPDATE jobs SET state = ?, error = ?, lease_until = 0 WHERE id = ? "
                       "AND state IN (?, ?)", (PARKED, error, job_id, PENDING, RUNNING))

    def release(self, job_id: int, worker: str) -> None:
        """Hand a leased job back untouched (a runner stopping): pending, no attempt."""
        with self._write() as db:
            db.execute("UPDATE jobs SET state = ?, lease_until = 0 WHERE id = ? AND worker = ? "
                       "AND state = ?", (PENDING, job_id, worker, RUNNING))

    # -- the user's commands ---------------------------------------------------------------

    def _change(self, job_ids: Sequence[int] | None, from_states: Sequence[str],
                to_state: str, reset: bool = False) -> list[Job]:
        changed = []
        with self._write() as db:
            rows = (db.execute("SELECT * FROM jobs").fetchall() if not job_ids else
                    [db.execute("SELECT * FROM jobs WHERE id = ?", (i,)).fetchone()
                     for i in job_ids])
            for index, row in enumerate(rows):
                if row is None:
                    raise SoloreelError(f"render queue: no job {job_ids[index]}; `soloreel "
                                        "queue list` shows the jobs and their ids")
                job = Job.from_row(row)
                if job.state not in from_states:
                    continue
                job.state = to_state
                if reset:
                    job.attempts, job.error = 0, ""
                if to_state != RUNNING:
                    job.lease_until = 0.0
                self._save(db, job)
                changed.append(job)
        return changed

    def cancel(self, job_ids: Sequence[int] | None = None) -> list[Job]:
        """Cancel pending, paused or running jobs (a running render stops at its next
        heartbeat, leaving nothing in the cache)."""
        return self._change(job_ids, (PENDING, PAUSED, RUNNING), CANCELLED)

    def retry(self, job_ids: Sequence[int] | None = None) -> list[Job]:
        """Parked and cancelled jobs pending again, their attempts reset."""
        return self._change(job_ids, (PARKED, CANCELLED), PENDING, reset=True)

    def pause(self, job_ids: Sequence[int] | None = None) -> list[Job]:
        """Pending jobs left alone until `resume` (running ones finish)."""
        return self._change(job_ids, (PENDING,), PAUSED)

    def resume(self, job_ids: Sequence[int] | None = None) -> list[Job]:
        """Paused jobs pending again."""
        return self._change(job_ids, (PAUSED,), PENDING)

    def open_jobs(self, tiers: Sequence[str]) -> int:
        """Jobs of these tiers still pending or running."""
        marks_s, marks_t = ", ".join("?" * len(OPEN_STATES)), ", ".join("?" * len(tiers))
        with self._connect() as db:
            row = db.execute(f"SELECT COUNT(*) AS n FROM jobs WHERE state IN ({marks_s}) AND "
                             f"tier IN ({marks_t})", (*OPEN_STATES, *tiers)).fetchone()
        return int(row["n"])


def pick(candidates: Sequence[Job], worker: Worker) -> Job:
    """The job a worker takes among claimable ones (highest priority first): its loaded
    model's jobs before others; inside a model the fewest adapter loads, then switches, from
    the worker's adapter state (`final.adapters`, the batch planner's rule); ties: oldest."""
    top = max(job.priority for job in candidates)
    jobs = [job for job in candidates if job.priority == top]
    same = [job for job in jobs if job.model and job.model == worker.model]
    if not same:
        first_model = jobs[0].model  # switching: the oldest job's model
        same = [job for job in jobs if job.model == first_model]
    if len(same) == 1 or not same[0].model:
        return same[0]
    state = worker.adapters.get(same[0].model, AdapterState())
    best, best_key = same[0], None
    for job in same:
        trial = state.copy()
        replay(job.adapter_sets(), trial)
        key = (trial.loads - state.loads, trial.switches - state.switches, job.id)
        if best_key is None or key < best_key:
            best, best_key = job, key
    return best


def queue_notes(production_root: Path | str) -> dict[str, str]:
    """Per shot id, what the render queue is doing for it ("final rendering 12/50",
    "final queued", "final parked"), for the status plot; {} when the production has no
    queue file (reading never creates one)."""
    path = queue_path(production_root)
    if not path.is_file():
        return {}
    notes: dict[str, str] = {}
    rank = {RUNNING: 0, PENDING: 1, PAUSED: 2, PARKED: 3}
    best: dict[str, int] = {}
    try:
        jobs = JobQueue(path).jobs(tuple(rank))
    except (sqlite3.Error, SoloreelError):  # a plot must not fail over the queue
        return {}
    for job in jobs:
        if best.get(job.shot_id, 9) <= rank[job.state]:
            continue
        best[job.shot_id] = rank[job.state]
        text = {RUNNING: f"rendering {job.progress_done}/{job.progress_total}",
                PENDING: "queued", PAUSED: "paused", PARKED: "parked"}[job.state]
        notes[job.shot_id] = f"{job.tier} {text}"
    return notes
