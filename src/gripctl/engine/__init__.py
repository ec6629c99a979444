"""Engine: the only room that changes the cluster. Runs releases through small actions in dependency
order, under one locked, recorded run lifecycle.

- `release.ReleaseRun`: one release's state in a run; `decide.next_action`: its next action (pure).
- `actions`: Install, Upgrade, Unlock, Rollback, Uninstall, Verify — each owns its record and helm call.
- `runner.Runner`: the scheduler (concurrency, halt, skip dependents, rollback-run).
- `lifecycle.recorded_run`: ledger run, lock, event fan-out, outcome — for every kind of run.
- `recover`: what interrupted runs left behind. `ports`: the seams to helm and the cluster.

Faces do not call the engine: they call `gripctl.service`, which builds the engine's world.
"""

from gripctl.engine.events import EngineEvent, EventKind, EventSink, Phase

__all__ = ["EngineEvent", "EventKind", "EventSink", "Phase"]
