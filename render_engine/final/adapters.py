"""Which LoRA adapters a loaded model holds, and the render order that loads the fewest.

Loading a LoRA (read the file, inject peft layers into every targeted linear) takes seconds
on a 14B model; changing which loaded adapters are active (`set_adapters`) takes little. So a
loaded model keeps up to `MAX_RESIDENT` adapters, and when it needs room it deletes the least
recently used one the next render does not need. `AdapterState` is that policy as plain data:
`modes.use_loras` follows it on the real pipeline, and the batch planner replays it
(`order_renders`) to pick the order with the fewest loads — shots grouped by model, then,
inside a model, the next shot (and the order of a vace_layers shot's layers, one LoRA set
per character) chosen so that layers with the same LoRA set are adjacent and adapters that
are already loaded are re-used. No torch here: the batch order is planned before anything
loads.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

AdapterKey = tuple[str, str, float]
"""(adapter name, file, weight) of one LoRA."""
AdapterSet = tuple[AdapterKey, ...]
"""The adapters one render needs active, in activation order."""

MAX_RESIDENT = 4
"""Adapters kept loaded per model (a rank-64 LoRA of Wan 14B is ≈0.4 GB in bf16)."""
MAX_PERMUTED = 6
"""Distinct LoRA sets in one shot up to which every layer order is tried (else kept)."""


@dataclass
class Switch:
    """What making one adapter set active takes: files to load, adapters to delete."""

    load: list[tuple[str, str]] = field(default_factory=list)
    """(name, file) to load, in order."""
    evict: list[str] = field(default_factory=list)
    """Adapter names to delete first (least recently used, or loaded from another file)."""
    changes: bool = False
    """Whether the active set changes at all."""


@dataclass
class AdapterState:
    """The adapters loaded into one model (least recently used first) and the active set,
    with counters of what it took."""

    cap: int = field(default_factory=lambda: MAX_RESIDENT)
    resident: OrderedDict[str, str] = field(default_factory=OrderedDict)
    """Adapter name → the file it was loaded from."""
    active: AdapterSet = ()
    loads: int = 0
    evictions: int = 0
    switches: int = 0

    def plan(self, wanted: Sequence[AdapterKey]) -> Switch:
        """What making `wanted` the active set would take (nothing is changed)."""
        wanted = tuple(wanted)
        if wanted == self.active:
            return Switch()
        needed = {name: path for name, path, _weight in wanted}
        stale = [n for n, p in self.resident.items() if n in needed and p != needed[n]]
        load = [(n, p) for n, p in needed.items() if self.resident.get(n) != p]
        kept = [n for n in self.resident if n not in stale]
        room = len(kept) + len(load) - max(self.cap, len(needed))
        spare = [n for n in kept if n not in needed]  # least recently used first
        return Switch(load=load, evict=stale + spare[:max(0, room)], changes=True)

    def apply(self, wanted: Sequence[AdapterKey], switch: Switch) -> None:
        """Record that `switch` was carried out and `wanted` is now active."""
        if not switch.changes:
            return
        for name in switch.evict:
            self.resident.pop(name, None)
            self.evictions += 1
        for name, path in switch.load:
            self.resident[name] = path
            self.loads += 1
        for name, _path, _weight in wanted:
            self.resident.move_to_end(name)
        self.active = tuple(wanted)
        self.switches += 1

    def use(self, wanted: Sequence[AdapterKey]) -> Switch:
        """Plan and record `wanted` (a simulation step)."""
        switch = self.plan(wanted)
        self.apply(wanted, switch)
        return switch

    def copy(self) -> AdapterState:
        return AdapterState(self.cap, OrderedDict(self.resident), self.active, self.loads,
                            self.evictions, self.switches)

    def reset(self) -> None:
        """Everything unloaded (after a failed load or an unload of all adapters)."""
        self.resident.clear()
        self.active = ()


def _distinct(sets: Sequence[AdapterSet]) -> list[AdapterSet]:
    return list(dict.fromkeys(sets))


def order_layers(sets: Sequence[AdapterSet], state: AdapterState) -> list[int]:
    """The order to render layers needing `sets` from `state`: equal sets adjacent, and the
    distinct sets in the order that loads fewest adapters, then switches least (ties keep
    the given order)."""
    distinct = _distinct(sets)
    if len(distinct) <= 1:
        return list(range(len(sets)))
    candidates = (itertools.permutations(distinct) if len(distinct) <= MAX_PERMUTED
                  else [tuple(distinct)])
    best: tuple[int, int] | None = None
    chosen: Sequence[AdapterSet] = distinct
    for candidate in candidates:
        trial = state.copy()
        for wanted in candidate:
            trial.use(wanted)
        cost = (trial.loads - state.loads, trial.switches - state.switches)
        if best is None or cost < best:
            best, chosen = cost, candidate
    return [i for wanted in chosen for i, s in enumerate(sets) if s == wanted]


def replay(sets: Sequence[AdapterSet], state: AdapterState) -> None:
    """Render one shot's layers (in `order_layers` order) in the simulation."""
    for index in order_layers(sets, state):
        state.use(sets[index])


def order_renders(items: Sequence[tuple[Hashable, Sequence[AdapterSet]]],
                  cap: int | None = None) -> tuple[list[int], dict[Hashable, AdapterState]]:
    """Render order of shots given as (model, the adapter set of each of its passes) in
    timeline order: models in order of first appearance, each loaded once; inside a model,
    greedily the shot that needs the fewest adapter loads next, then the fewest switches
    (ties: timeline order). Returns the order and each model's simulated final state (its
    counters say how many loads the order takes)."""
    models: dict[Hashable, list[int]] = {}
    for index, (model, _sets) in enumerate(items):
        models.setdefault(model, []).append(index)
    order: list[int] = []
    states: dict[Hashable, AdapterState] = {}
    for model, indices in models.items():
        state = states[model] = AdapterState(cap or MAX_RESIDENT)
        remaining = list(indices)
        while remaining:
            best_key: tuple[int, int, int] | None = None
            best_index = remaining[0]
            seen: set[tuple[AdapterSet, ...]] = set()
            for index in remaining:  # shots with equal set lists cost the same: try one
                signature = tuple(items[index][1])
                if signature in seen:
                    continue
                seen.add(signature)
                trial = state.copy()
                replay(signature, trial)
                key = (trial.loads - state.loads, trial.switches - state.switches, index)
                if best_key is None or key < best_key:
                    best_key, best_index = key, index
            replay(items[best_index][1], state)
            remaining.remove(best_index)
            order.append(best_index)
    return order, states


def loads_in_order(items: Sequence[tuple[Hashable, Sequence[AdapterSet]]], order: Sequence[int],
                   cap: int | None = None) -> int:
    """Adapter loads a given render order takes (one state per model, reset when the model
    changes, as a registry keeping one model does)."""
    cap = cap or MAX_RESIDENT
    total, model, state = 0, object(), AdapterState(cap)
    for index in order:
        if items[index][0] != model:
            total += state.loads
            model, state = items[index][0], AdapterState(cap)
        replay(items[index][1], state)
    return total + state.loads
