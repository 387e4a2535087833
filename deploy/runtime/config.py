"""Runtime configuration (runtime.yaml): input staleness limits (by arrival and by stamp), stamp
rules, safety thresholds, loop options, the inference engine.

The documented defaults live in deploy/runtime/runtime.yaml; a robot may ship
its own file with the same layout. Everything is loaded into frozen,
typed dataclasses and checked once at load time, so a typo fails at start-up
with the key's name rather than in the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.runtime.stamps import STAMP_CLOCKS

DEFAULT_CONFIG = Path(__file__).with_name("runtime.yaml")


@dataclass(frozen=True)
class InputSpec:
    """One asynchronous input; `max_age_s` (by arrival) None means never stale once received;
    `stamp_max_age_s` (by the message's own stamp, deploy.runtime.stamps) None means unchecked."""

    name: str
    max_age_s: float | None
    stamp_max_age_s: float | None = None

    def __post_init__(self) -> None:
        for key in ("max_age_s", "stamp_max_age_s"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"inputs.{self.name}.{key} must be a positive number of seconds or null, found {value}"
                )


@dataclass(frozen=True)
class StampOptions:
    """How message stamps are judged (deploy/runtime/stamps.py); see runtime.yaml, `stamps:`."""

    clock: str = "system"
    future_tolerance_s: float | None = 0.02

    def __post_init__(self) -> None:
        if self.clock not in STAMP_CLOCKS:
            raise ValueError(f"stamps.clock must be one of {list(STAMP_CLOCKS)}, found {self.clock!r}")
        t = self.future_tolerance_s
        if t is not None and not (math.isfinite(t) and t >= 0):
            raise ValueError(f"stamps.future_tolerance_s must be ≥ 0 s or null, found {t}")


#: loop.sensor_cycle_thread: where a sensor-triggered cycle runs (receive: the transport's receive
#: thread right after the callbacks that delivered the input, where the transport allows; loop: the
#: loop's own thread, woken by the arrival).
SENSOR_CYCLE_THREADS = ("receive", "loop")


@dataclass(frozen=True)
class LoopOptions:
    """Options of the fixed-rate loop; see runtime.yaml for what each does. The defaults here are
    runtime.yaml's (a key left out of a configuration file means its documented default)."""

    spin_margin_s: float = 0.0003
    stats_window_cycles: int = 10000
    sched_fifo_priority: int | None = 50
    cpu_affinity: tuple[int, ...] | None = None
    lock_memory: bool = True
    disable_gc: bool = True
    gc_collect_period_s: float | None = None
    timer_slack_ns: int | None = 1000
    switch_interval_s: float | None = 0.0002
    trigger_min_spacing_periods: float = 0.75
    watchdog_periods: float = 1.5
    sensor_cycle_thread: str = "receive"

    def __post_init__(self) -> None:
        for key in ("lock_memory", "disable_gc"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"loop.{key} must be true or false, found {getattr(self, key)!r}")
        p = self.sched_fifo_priority
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 99):
            raise ValueError(
                f"loop.sched_fifo_priority must be an integer 1..99 (SCHED_FIFO priority; ros2_control "
                f"uses 50) or null (no real-time scheduling requested), found {p!r}"
            )
        if self.cpu_affinity is not None and (
            not self.cpu_affinity
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.cpu_affinity)
        ):
            raise ValueError(
                "loop.cpu_affinity must be a non-empty list of CPU ids (≥ 0) or null, found "
                f"{self.cpu_affinity!r}"
            )
        g = self.gc_collect_period_s
        if g is not None and (
            isinstance(g, bool) or not isinstance(g, (int, float)) or not (math.isfinite(g) and g > 0)
        ):
            raise ValueError(
                f"loop.gc_collect_period_s must be a positive number of seconds or null, found {g!r}"
            )
        if g is not None and not self.disable_gc:
            raise ValueError(
                "loop.gc_collect_period_s collects between cycles while the automatic GC is off: it needs "
                "loop.disable_gc: true (or leave it null)"
            )
        t = self.timer_slack_ns
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise ValueError(f"loop.timer_slack_ns must be an integer ≥ 1 ns or null, found {t!r}")
        w = self.switch_interval_s
        if w is not None and (
            isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and 0 < w <= 0.1)
        ):
            raise ValueError(
                "loop.switch_interval_s must be a number of seconds in (0, 0.1] (how long the interpreter "
                "lets one thread run while another waits for it; Python's default is 0.005) or null, found "
                f"{w!r}"
            )
        if not 0.0 <= self.trigger_min_spacing_periods < 1.0:
            raise ValueError(
                "loop.trigger_min_spacing_periods must be in [0, 1) periods, found "
                f"{self.trigger_min_spacing_periods}"
            )
        if not (math.isfinite(self.watchdog_periods) and 1.0 <= self.watchdog_periods <= 10.0):
            raise ValueError(
                f"loop.watchdog_periods must be in [1, 10] periods, found {self.watchdog_periods}"
            )
        if self.sensor_cycle_thread not in SENSOR_CYCLE_THREADS:
            raise ValueError(
                f"loop.sensor_cycle_thread must be one of {list(SENSOR_CYCLE_THREADS)}, found "
                f"{self.sensor_cycle_thread!r}"
            )
        if not 0.0 <= self.spin_margin_s < 0.1:
            raise ValueError(f"loop.spin_margin_s must be in [0, 0.1) s, found {self.spin_margin_s}")
        if self.stats_window_cycles < 1:
            raise ValueError(f"loop.stats_window_cycles must be ≥ 1, found {self.stats_window_cycles}")


#: inference.engine values: compiled C when it can (auto), always ONNX Runtime, compiled C or refuse.
INFERENCE_ENGINES = ("auto", "onnxruntime", "compiled")
#: inference.cycle values: the nominal cycle compiled where the observation and policy are (auto), or
#: always the Python cycle.
CYCLE_ENGINES = ("auto", "python")


@dataclass(frozen=True)
class InferenceOptions:
    """Which engine runs the policy each cycle (deploy/runtime/compiled_policy.py); see runtime.yaml,
    `inference:`."""

    engine: str = "auto"
    cycle: str = "auto"

    def __post_init__(self) -> None:
        if self.engine not in INFERENCE_ENGINES:
            raise ValueError(
                f"inference.engine must be one of {list(INFERENCE_ENGINES)}, found {self.engine!r}"
            )
        if self.cycle not in CYCLE_ENGINES:
            raise ValueError(f"inference.cycle must be one of {list(CYCLE_ENGINES)}, found {self.cycle!r}")


@dataclass(frozen=True)
class RuntimeConfig:
    inputs: dict[str, InputSpec]
    max_deadline_miss_streak: int = 5
    loop: LoopOptions = field(default_factory=LoopOptions)
    stamps: StampOptions = field(default_factory=StampOptions)
    inference: InferenceOptions = field(default_factory=InferenceOptions)

    def __post_init__(self) -> None:
        if self.max_deadline_miss_streak < 1:
            raise ValueError(
                f"safety.max_deadline_miss_streak must be ≥ 1, found {self.max_deadline_miss_streak}"
            )

    def input_spec(self, name: str) -> InputSpec:
        try:
            return self.inputs[name]
        except KeyError:
            raise ValueError(
                f"the runtime needs input '{name}' but its configuration has no staleness limit for it; "
                f"add `inputs: {{{name}: {{max_age_s: ...}}}}` (known inputs: {sorted(self.inputs)}; "
                f"defaults in {DEFAULT_CONFIG})"
            ) from None

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> RuntimeConfig:
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {}, where=str(path))

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "runtime config") -> RuntimeConfig:
        _check_keys(d, {"inputs", "safety", "loop", "stamps", "inference"}, where)
        inputs = {}
        for name, spec in (d.get("inputs") or {}).items():
            _check_keys(spec, {"max_age_s", "stamp_max_age_s"}, f"{where}: inputs.{name}")
            age, stamp_age = spec.get("max_age_s"), spec.get("stamp_max_age_s")
            inputs[name] = InputSpec(
                name, None if age is None else float(age), None if stamp_age is None else float(stamp_age)
            )
        stamps = dict(d.get("stamps") or {})
        _check_keys(stamps, set(StampOptions.__dataclass_fields__), f"{where}: stamps")
        if stamps.get("future_tolerance_s") is not None:
            stamps["future_tolerance_s"] = float(stamps["future_tolerance_s"])
        safety = d.get("safety") or {}
        _check_keys(safety, {"max_deadline_miss_streak"}, f"{where}: safety")
        loop = dict(d.get("loop") or {})
        _check_keys(loop, set(LoopOptions.__dataclass_fields__), f"{where}: loop")
        if isinstance(loop.get("cpu_affinity"), list):
            loop["cpu_affinity"] = tuple(loop["cpu_affinity"])
        inference = dict(d.get("inference") or {})
        _check_keys(inference, set(InferenceOptions.__dataclass_fields__), f"{where}: inference")
        return cls(
            inputs=inputs,
            max_deadline_miss_streak=int(safety.get("max_deadline_miss_streak", 5)),
            loop=LoopOptions(**loop),
            stamps=StampOptions(**stamps),
            inference=InferenceOptions(**inference),
        )


def _check_keys(d: Any, known: set[str], where: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping with keys {sorted(known)}, found {d!r}")
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
