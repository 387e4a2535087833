"""The robot-side runtime: one control cycle from the newest inputs to a safe actuator command.

    inputs (any thread) ──► InputStore ──► faults? ──► SafetySupervisor ──► action by state:
                                             │          DISARMED/ESTOP: stop
                                             │          STARTING: start-up sequence
                                             │          RUNNING: policy (PolicyRunner)
                                             │          FAILSAFE: PID hold+land / damping
                                             └────────────────────────────► CommandLimiter ──► output

Runtime.step(now_s) is one cycle; a RealtimeLoop calls it (Runtime.run) at the contract's
rate, or on each arrival of the driving input (`trigger_input`: the robot profile's, else the
contract's first sensor) with the fixed-rate timer as watchdog; a simulator bridge or a test
calls it on simulated time.
It never imports sim/ or training/, and never raises for bad inputs or a bad
policy output: those are faults with bounded responses (deploy.runtime.safety).

Where the observation and policy run compiled, a RUNNING cycle with nothing wrong runs as one
compiled call (deploy.runtime.compiled_cycle: the same operations in the same order, tested bit
for bit against this module's cycle), and put_cdr() stores a sensor sample from its bytes the
same way; anything else (any fault, any other state) they decline, having changed nothing, and
the Python code below runs it and names every fault.

arm(), disarm(), estop() and reset_estop() may be called from any thread.

Outputs are in the robot profile's actuator order (joint/motor names matched
to the contract's targets by name), in the action terms' units; `action`
keeps the contract order in action units (what the policy sees next cycle as
its previous action).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.robot_state import RobotState
from deploy.runtime.command_limiter import CommandLimiter
from deploy.runtime.compiled_cycle import DECLINED, GUARD, NOMINAL, CompiledCycle
from deploy.runtime.compiled_policy import CompiledInferenceError
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.failsafe import FailsafeStep, LeggedFailsafe, QuadrotorFailsafe, stop_command
from deploy.runtime.input_store import InputStore, Payload
from deploy.runtime.limits import LimitChecker
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import index_map, required_inputs, trigger_input
from deploy.runtime.rt_loop import CycleInfo, LoopStatsSnapshot, RealtimeLoop
from deploy.runtime.safety import Event, Fault, FaultReport, SafetySupervisor, State
from deploy.runtime.stage_times import StageTimes
from deploy.runtime.stamps import StampClock
from deploy.runtime.startup import LeggedStartup, QuadrotorStartup
from deploy.runtime.state_assembly import Assembled, StateAssembler

log = logging.getLogger("tether.runtime")


class ArmingRefusedError(RuntimeError):
    """arm() was refused; the message lists every reason."""


@dataclass(frozen=True)
class RuntimeOutput:
    """One cycle's command. Always finite, within the contract's limits and rate-limited
    (except `stop` commands, which cut power at once)."""

    state: State
    source: str  # stop | starting | policy | failsafe:hold | failsafe:land | failsafe:blind_descent | damping
    action: np.ndarray  # (A,) contract order, action units
    actuator_names: tuple[str, ...]  # robot profile order
    actuator_command: np.ndarray  # (A,) robot profile order, in the action terms' units
    kp: np.ndarray | None  # legged: per-actuator stiffness (profile order); None for motors
    kd: np.ndarray | None
    faults: tuple[FaultReport, ...]


@dataclass(frozen=True)
class ActuatorMap:
    """How an action in the contract's order becomes the command in the profile's actuator order:
    actuator[i] = offset[k] + scale[k] * action[k], k = to_profile[i]."""

    to_profile: np.ndarray  # (A,) int
    offset: np.ndarray  # (A,) actuator units, contract order
    scale: np.ndarray  # (A,)


class Runtime:
    def __init__(
        self,
        runner: PolicyRunner,
        config: RuntimeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: StampClock | None = None,
    ) -> None:
        """`stamp_clock`: what message stamps are judged against (default: the configuration's
        stamps.clock; a policy node feeds a sim clock from /clock). A runner built without an
        inference engine gets the configuration's inference.engine here."""
        self.runner = runner
        self.contract = runner.contract
        self._contract_sha256 = self.contract.sha256()  # for diagnostics: hashed once, not every 200 ms
        self.profile = profile = runner.profile
        self.config = config or RuntimeConfig.from_yaml()
        if runner.inference_requested is None:  # the runner leaves the engine to the configuration
            runner.use_inference(self.config.inference.engine)
        self.clock = clock
        self.required = required_inputs(self.contract)
        specs = [self.config.input_spec(n) for n in self.required]
        specs += [s for n, s in self.config.inputs.items() if n not in self.required]
        self.stamp_clock = stamp_clock or StampClock(self.config.stamps.clock)
        self.inputs = InputStore(
            specs, clock=clock, stamp_clock=self.stamp_clock,
            future_tolerance_s=self.config.stamps.future_tolerance_s,
        )  # fmt: skip
        self.supervisor = SafetySupervisor()
        # the cycle's state is assembled in place (nothing allocated per cycle; see StateAssembler)
        self.assembler = StateAssembler(self.contract, profile, reuse=True)
        self.limit_checker = LimitChecker(profile.limits)
        dt = self.contract.control_dt_s
        self.limiter = CommandLimiter(self.contract, profile.action_rate_limits_per_s, dt)
        self._stop = stop_command(self.contract, profile)
        if profile.kind == "quadrotor":
            self.startup: QuadrotorStartup | LeggedStartup = QuadrotorStartup(self.contract, profile)
            self.failsafe: QuadrotorFailsafe | LeggedFailsafe = QuadrotorFailsafe(self.contract, profile)
        else:
            self.startup = LeggedStartup(self.contract, profile)
            self.failsafe = LeggedFailsafe(self.contract, profile)
        self._to_profile = index_map(self.contract, profile)
        self._scale = np.concatenate([np.full(t.size, t.scale) for t in self.contract.actions])
        self._offset = np.concatenate([np.full(t.size, t.offset) for t in self.contract.actions])
        # The last line of defence, whatever produced the action: every command leaves finite and
        # within the contract's range; a non-finite entry becomes that actuator's stop value.
        self._action_low = np.concatenate([np.full(t.size, t.low) for t in self.contract.actions])
        self._action_high = np.concatenate([np.full(t.size, t.high) for t in self.contract.actions])
        self._stop_action_guard = np.clip(self._stop.action, self._action_low, self._action_high)
        self._low_f, self._high_f = self._action_low.tolist(), self._action_high.tolist()
        self._finite_bounds = bool(
            np.all(np.isfinite(self._action_low)) and np.all(np.isfinite(self._action_high))
        )
        self._offset_f, self._scale_f = self._offset.tolist(), self._scale.tolist()
        self._to_profile_f = [int(k) for k in self._to_profile]
        #: Cycles whose output the final guard had to repair (always 0 unless something upstream broke).
        self.output_guard_trips = 0
        self.limiter.reset(self._stop.action)
        self._lock = threading.Lock()
        self._estop_requested: str | None = None
        self._disarm_requested = False
        self._last_output: RuntimeOutput | None = None
        self.cycles = 0
        self._policy_input_age_max_s: dict[str, float] = {}
        self.loop: RealtimeLoop | None = None  # set by run(); its stats feed diagnostics
        #: The input whose arrival starts a cycle when the loop is sensor-triggered.
        self.trigger_input = trigger_input(self.contract, profile)
        self._on_trigger: Callable[[], None] | None = None  # the sensor-triggered loop's notify()
        #: Per-stage cycle timing (deploy.runtime.stage_times), None = off; `tether bench loop` sets it.
        self.stage_times: StageTimes | None = None
        self._input_names = tuple(self.inputs.specs)
        q = profile.quadrotor
        #: The oldest base state the failsafe may fly on (legged: any).
        self._state_max_age_s = q.failsafe.state_max_age_s if q is not None else math.inf
        self._max_miss_streak = self.config.max_deadline_miss_streak
        #: The nominal cycle as one compiled call (deploy.runtime.compiled_cycle), None: Python only.
        self.compiled_cycle: CompiledCycle | None = None
        #: RUNNING cycles the compiled cycle ran, and those it declined to the Python cycle.
        self.compiled_cycles = 0
        self.declined_cycles = 0
        if self.config.inference.cycle == "auto" and self.runner.inference_engine != "onnxruntime":
            try:
                self.compiled_cycle = CompiledCycle(self)
            except CompiledInferenceError as exc:
                log.warning("the control cycle runs in Python, not compiled (inference.cycle auto): %s", exc)
            else:
                self.inputs.attach_mirror(self.compiled_cycle.mirror)

    @property
    def actuator_map(self) -> ActuatorMap:
        return ActuatorMap(self._to_profile, self._offset, self._scale)

    @property
    def action_bounds_finite(self) -> bool:
        """Every action bound of the contract is finite (the final guard's clip alone keeps a
        command finite)."""
        return self._finite_bounds

    @property
    def max_miss_streak(self) -> int:
        """Deadline misses in a row that fail safe (safety.max_deadline_miss_streak)."""
        return self._max_miss_streak

    @property
    def cycle_engine(self) -> str:
        """What runs the cycle: "compiled C (nominal cycle), Python otherwise" or "python"."""
        cycle = self.compiled_cycle
        if cycle is not None and cycle.usable(self):
            return "compiled C (nominal cycle), Python otherwise"
        return "python"

    @property
    def policy_input_age_max_s(self) -> dict[str, float]:
        """Per required input, the oldest sample (s) any cycle ran the policy on: staleness
        handling works when this never exceeds the input's max_age_s (checked in HIL)."""
        out = dict(self._policy_input_age_max_s)
        cycle = self.compiled_cycle
        if cycle is not None:
            for name, k in cycle.required_slots:
                age = float(cycle.mirror.age_max_s[k])
                if age > out.get(name, 0.0):
                    out[name] = age
        return out

    # -- commands (any thread) ---------------------------------------------------------

    @property
    def state(self) -> State:
        return self.supervisor.state

    def arming_problems(self, now_s: float | None = None) -> list[str]:
        """Why arm() would be refused now (empty: it would arm). Any thread: it waits for a cycle
        in progress (the cycle's state is assembled in place, one at a time)."""
        with self._lock:
            return self._arming_problems(now_s)

    def _arming_problems(self, now_s: float | None = None) -> list[str]:
        now = self.clock() if now_s is None else now_s
        out = []
        if self.supervisor.state is not State.DISARMED:
            out.append(f"state is {self.supervisor.state.value}, arming needs DISARMED")
        faults = self._detect(now)[0]
        out += [str(f) for f in faults]
        return out

    def arm(self, now_s: float | None = None, current_action: np.ndarray | None = None) -> None:
        """DISARMED → STARTING, or ArmingRefusedError naming every reason.

        `current_action` (action units, contract order) is what the actuators do
        now, the starting point of the rate limit; by default the stop command (legged: the
        measured pose, where the start-up interpolation begins).
        """
        with self._lock:
            now = self.clock() if now_s is None else now_s
            problems = self._arming_problems(now)
            if problems:
                raise ArmingRefusedError("arming refused: " + "; ".join(problems))
            self.runner.reset()
            assembled = self._assemble(now)
            self.startup.start(now, assembled.state)
            if current_action is None and self.profile.kind == "legged":
                # the joints are where they were measured, not at the stop command's default-pose
                # target (which carries no stiffness): the rate limit starts from there
                current_action = self.startup.act(now, assembled.state)
            self.limiter.reset(self._stop.action if current_action is None else current_action)
            self._disarm_requested = False
            self.supervisor.handle(Event.ARM, now, "commanded")

    def disarm(self) -> None:
        """Request a stop: STARTING → DISARMED, RUNNING → FAILSAFE (land / damp), at the next cycle."""
        self._disarm_requested = True

    def estop(self, reason: str = "external e-stop") -> None:
        """External e-stop: ESTOP (outputs stop) at the start of the next cycle. Latched."""
        self._estop_requested = reason

    def release_estop(self) -> None:
        """The e-stop source is released (e.g. the button is up); reset_estop() may then succeed."""
        self._estop_requested = None

    def reset_estop(self, now_s: float | None = None) -> None:
        """ESTOP → DISARMED once the e-stop is released."""
        with self._lock:
            if self._estop_requested is not None:
                raise ArmingRefusedError(f"e-stop still engaged ({self._estop_requested}); release it first")
            self.supervisor.handle(Event.RESET, self.clock() if now_s is None else now_s, "commanded")

    def put(
        self, name: str, value: Payload, stamp_s: float | None = None, header_stamp_s: float | None = None
    ) -> bool:
        """Store a new input value (any thread): `stamp_s` its arrival on the runtime's clock,
        `header_stamp_s` the sender's stamp (None: unstamped); see InputStore.put. On a
        sensor-triggered loop, the driving input's arrival (accepted or refused: a refused one is
        a fault to act on) starts a cycle."""
        ok = self.inputs.put(name, value, stamp_s, header_stamp_s)
        self.arrived(name)
        return ok

    def put_cdr(self, name: str, data: bytes, stamp_s: float, notify: bool = True) -> tuple[int, int] | None:
        """put() of a sensor's sample (odometry, IMU, joint states) given as its CDR bytes, arrived
        at `stamp_s`, through the compiled cycle (any thread): its stamp (sec, nanosec) when stored;
        None, having changed nothing and started no cycle, when there is no compiled cycle or it
        does not accept the sample: the caller then decodes it and calls put(), which names why it
        is refused.
        `notify` False: the caller calls arrived(name) itself, after its own bookkeeping."""
        cycle = self.compiled_cycle
        if cycle is None:
            return None
        got = self.inputs.accept_compiled(cycle, name, data, stamp_s)
        if got is not None and notify:
            self.arrived(name)
        return got

    def arrived(self, name: str) -> None:
        """A sample of `name` was stored: on a sensor-triggered loop, the driving input's starts a
        cycle (put() calls this itself)."""
        notify = self._on_trigger
        if notify is not None and name == self.trigger_input:
            notify()

    # -- one cycle --------------------------------------------------------------------------

    def step(self, now_s: float | None = None, miss_streak: int = 0) -> RuntimeOutput:
        """One control cycle at time `now_s` (the runtime's clock); never raises for bad data."""
        now = self.clock() if now_s is None else now_s
        cycle = self.compiled_cycle
        if cycle is not None:
            out = self._compiled_step(cycle, now, miss_streak)
            if out is not None:
                return out
        # Huge-but-finite inputs may overflow on the way; the results are checked, not warned about.
        with self._lock, np.errstate(all="ignore"):
            lap = None if self.stage_times is None else self.stage_times.lap
            sup = self.supervisor
            if self._estop_requested is not None:
                sup.handle(Event.ESTOP, now, self._estop_requested)
            faults, assembled, state_ok = self._detect(now, miss_streak, lap)
            if self._disarm_requested:
                self._disarm_requested = False
                if sup.handle(Event.DISARM, now, "commanded") and sup.state is State.FAILSAFE:
                    self.failsafe.start(now, assembled.state, state_ok)
            if faults and sup.state in (State.STARTING, State.RUNNING):
                self._enter_failsafe(now, faults, assembled.state, state_ok)
            if lap is not None:
                lap("safety")
            out = self._output(now, faults, assembled.state, state_ok, lap)
            self._last_output = out
            self.cycles += 1
            return out

    def _compiled_step(self, cycle: CompiledCycle, now: float, miss_streak: int) -> RuntimeOutput | None:
        """The cycle as one compiled call when it is nominal; None when the compiled cycle declines
        (nothing changed: the Python cycle runs it)."""
        with self._lock:
            if (
                self.supervisor.state is not State.RUNNING
                or self._estop_requested is not None
                or self._disarm_requested
                or not cycle.usable(self)
            ):
                return None
            code = self.inputs.step_compiled(cycle, now, miss_streak)
            if code == DECLINED:
                self.declined_cycles += 1
                return None
            self.compiled_cycles += 1
            if self.stage_times is not None:
                self.stage_times.lap("compiled")
            if code == NOMINAL:
                out = RuntimeOutput(
                    State.RUNNING, "policy", cycle.action.copy(), self.profile.actuators,
                    cycle.actuator.copy(), None, None, (),
                )  # fmt: skip
            elif code == GUARD:  # the limited command fails the final test: _guard repairs it
                out = self._emit(cycle.action.copy(), "policy", [], None, None)
            else:  # a non-finite policy action: the Python cycle's response, on the same action
                values = self.runner.bound.action[0].tolist()
                with np.errstate(all="ignore"):
                    assembled = self._assemble(now)
                    state_ok = assembled.finite and assembled.base_age_s <= self._state_max_age_s
                    out = self._output(now, [], assembled.state, state_ok, policy_values=values)
            self._last_output = out
            self.cycles += 1
            return out

    def _assemble(self, now: float) -> Assembled:
        samples = self.inputs.latest(self._input_names)
        return self.assembler.assemble(samples, now, self.limiter.previous_view)

    def _detect(
        self, now: float, miss_streak: int = 0, lap: Callable[[str], None] | None = None
    ) -> tuple[list[FaultReport], Assembled, bool]:
        """Faults at `now`, the assembled state, and whether that state is usable for control.
        `lap` (profiling) is called after the input checks and after the state assembly."""
        faults: list[FaultReport] = []
        for name in self.required:
            present, age_s, stale, invalid, stamp_problem = self.inputs.judge(name, now)
            if invalid is not None:
                faults.append(FaultReport(Fault.NONFINITE_INPUT, f"{name}: {invalid}"))
                continue
            if not present:
                faults.append(FaultReport(Fault.STALE_INPUT, f"{name}: nothing received"))
            elif stale:
                limit = self.inputs.specs[name].max_age_s
                age = f"{name}: {age_s * 1e3:.1f} ms old (limit {limit * 1e3:.1f} ms)"
                faults.append(FaultReport(Fault.STALE_INPUT, age))
            if stamp_problem is not None:  # refused for its stamp, or too old by it now
                faults.append(FaultReport(stamp_problem.fault, f"{name}: {stamp_problem.detail}"))
        if lap is not None:
            lap("inputs")
        assembled = self._assemble(now)
        if lap is not None:
            lap("state")
        if assembled.problem is not None:
            faults.append(FaultReport(Fault.NONFINITE_INPUT, assembled.problem))
        state = assembled.state
        finite = state is not None and assembled.finite
        if finite:
            faults += self.limit_checker.faults(state)
        if miss_streak >= self._max_miss_streak:
            faults.append(
                FaultReport(
                    Fault.DEADLINE_MISS_STREAK,
                    f"{miss_streak} consecutive missed deadlines "
                    f"(limit {self.config.max_deadline_miss_streak})",
                )
            )
        if self._estop_requested is not None:
            faults.append(FaultReport(Fault.EXTERNAL_ESTOP, self._estop_requested))
        # The failsafe may fly on a slightly older state than the policy (the last good sample).
        usable = finite and assembled.base_age_s <= self._state_max_age_s
        return faults, assembled, usable

    def _enter_failsafe(
        self, now: float, faults: list[FaultReport], state: RobotState | None, state_ok: bool
    ) -> None:
        reason = "; ".join(str(f) for f in faults)
        if self.supervisor.handle(Event.FAULT, now, reason) and self.supervisor.state is State.FAILSAFE:
            self.failsafe.start(now, state, state_ok)

    def _output(
        self,
        now: float,
        faults: list[FaultReport],
        state: RobotState | None,
        state_ok: bool,
        lap: Callable[[str], None] | None = None,
        policy_values: list[float] | None = None,
    ) -> RuntimeOutput:
        """The cycle's command by state; `policy_values`: the policy's action, already computed
        (the compiled cycle's non-finite one), instead of running the policy here."""
        sup = self.supervisor
        if sup.state is State.STARTING:
            if self.startup.done(now):
                sup.handle(Event.STARTED, now, "start-up complete")
            else:
                action = self.limiter.limit(self.startup.act(now, state))
                return self._emit(action, "starting", faults, self.startup.kp, self.startup.kd)
        if sup.state is State.RUNNING:
            ages = self._policy_input_age_max_s
            for name in self.required:
                age_s = self.inputs.age_s(name, now)
                if age_s > ages.get(name, 0.0):
                    ages[name] = age_s
            try:
                # plain floats from here to the output: a handful of values
                values = self.runner.act_values(state, lap) if policy_values is None else policy_values
                finite = all(map(math.isfinite, values))
                bad_output = None if finite else f"policy action {values}"
            except Exception as exc:  # a failing inference is handled like a non-finite output
                bad_output = f"policy inference failed: {exc}"
            if bad_output is None:
                out = self._emit_values(self.limiter.limit_values(values), "policy", faults)
                if lap is not None:
                    lap("limiter")
                return out
            bad = FaultReport(Fault.NONFINITE_OUTPUT, bad_output)
            faults = [*faults, bad]
            self._enter_failsafe(now, [bad], state, state_ok)
        if sup.state is State.FAILSAFE:
            step: FailsafeStep = self.failsafe.act(now, state, state_ok)
            if step.done:
                sup.handle(Event.FAILSAFE_DONE, now, step.reason or step.phase)
            elif step.timed_out:
                sup.handle(Event.FAILSAFE_TIMEOUT, now, step.reason)
            else:
                source = "damping" if step.phase == "damping" else f"failsafe:{step.phase}"
                action = self.limiter.stop(step.action) if step.stop else self.limiter.limit(step.action)
                return self._emit(action, source, faults, self.failsafe.kp, self.failsafe.kd)
        # DISARMED, ESTOP, or a failsafe that just finished: cut power (legged: damping).
        return self._emit(self.limiter.stop(self._stop.action), "stop", faults, self._stop.kp, self._stop.kd)

    def _emit(
        self,
        action: np.ndarray,
        source: str,
        faults: list[FaultReport],
        kp: np.ndarray | None,
        kd: np.ndarray | None,
    ) -> RuntimeOutput:
        action = self._guard(action)
        # action_to_actuator (offset + scale · action; `action` is clipped) into the profile's order,
        # on plain floats: a handful of values
        values = action.tolist()
        actuator = [self._offset_f[k] + self._scale_f[k] * values[k] for k in self._to_profile_f]
        perm = self._to_profile
        return RuntimeOutput(
            state=self.supervisor.state,
            source=source,
            action=action,
            actuator_names=self.profile.actuators,
            actuator_command=np.array(actuator),
            kp=None if kp is None else np.asarray(kp)[perm],
            kd=None if kd is None else np.asarray(kd)[perm],
            faults=tuple(faults),
        )

    def _emit_values(self, values: list[float], source: str, faults: list[FaultReport]) -> RuntimeOutput:
        """_emit() of a command given as plain floats (the policy's path), without kp/kd."""
        if not (
            all(a <= v <= b for v, a, b in zip(values, self._low_f, self._high_f, strict=True))
            and (self._finite_bounds or all(map(math.isfinite, values)))
        ):
            return self._emit(np.array(values), source, faults, None, None)  # _guard repairs it
        offset, scale = self._offset_f, self._scale_f
        actuator = [offset[k] + scale[k] * values[k] for k in self._to_profile_f]
        return RuntimeOutput(
            self.supervisor.state,
            source,
            np.array(values),
            self.profile.actuators,
            np.array(actuator),
            None,
            None,
            tuple(faults),
        )

    def _guard(self, action: np.ndarray) -> np.ndarray:
        lo, hi = self._action_low, self._action_high
        # NaN fails both comparisons; ±inf fails them too while the bounds are finite (else the
        # isfinite test below catches it)
        if all(a <= v <= b for v, a, b in zip(action.tolist(), self._low_f, self._high_f, strict=True)) and (
            self._finite_bounds or np.all(np.isfinite(action))
        ):
            return action
        self.output_guard_trips += 1
        return np.where(np.isfinite(action), np.clip(action, lo, hi), self._stop_action_guard)

    # -- diagnostics and the real-time loop ---------------------------------------------------------

    def diagnostics(
        self, loop: LoopStatsSnapshot | None = None, now_s: float | None = None
    ) -> dict[str, Any]:
        """State, active faults, input ages and recent transitions, as plain data (for ROS diagnostics)."""
        now = self.clock() if now_s is None else now_s
        last = self._last_output
        inputs = {}
        for name in self.inputs.specs:
            st = self.inputs.status(name, now)
            inputs[name] = {
                "present": st.present,
                "age_s": st.age_s if np.isfinite(st.age_s) else None,
                "stale": st.stale,
                "invalid": st.invalid,
                "received": st.received,
                "rejected": st.rejected,
                "required": name in self.required,
                "stamp_age_s": st.stamp_age_s,
                "stamp_fault": None if st.stamp_problem is None else str(st.stamp_problem),
                "unstamped": st.unstamped,
                "stamp_refused": st.stamp_refused,
            }
        return {
            "state": self.supervisor.state.value,
            "source": None if last is None else last.source,
            "faults": [] if last is None else [str(f) for f in last.faults],
            "cycles": self.cycles,
            "cycles_compiled": self.compiled_cycles,
            "cycles_declined": self.declined_cycles,
            "output_guard_trips": self.output_guard_trips,
            "inputs": inputs,
            "transitions": [
                {"time_s": t.time_s, "from": t.before.value, "to": t.after.value, "event": t.event.value}
                | {"reason": t.reason}
                for t in list(self.supervisor.history)[-10:]
            ],
            "loop": None if loop is None else loop.to_dict(),
            "policy": str(self.runner.policy.path),
            "contract_sha256": self._contract_sha256,
            "providers": list(self.runner.providers),
            "inference_engine": self.runner.inference_engine,
            "observation_engine": self.runner.observation_engine,
            "cycle_engine": self.cycle_engine,
            "stamp_clock": self.stamp_clock.kind,
        }

    def run(
        self,
        sink: Callable[[RuntimeOutput], None],
        seconds: float | None = None,
        before_step: Callable[[CycleInfo], None] | None = None,
        loop: RealtimeLoop | None = None,
        realtime: bool = True,
        cycles: int | None = None,
        trigger: str = "timer",
    ) -> LoopStatsSnapshot:
        """Run the cycle on a RealtimeLoop, handing each output to `sink`: at the contract's rate
        (trigger "timer"), or on each arrival of `trigger_input` with the timer as watchdog
        ("sensor"); a given `loop` brings its own trigger.

        `before_step` runs at the start of each cycle (a simulator bridge
        publishes its inputs there; that needs the timer). The runtime's clock must be the
        loop's (time.monotonic), so input ages and deadlines agree.
        """
        loop = loop or RealtimeLoop(self.contract.control_rate_hz, self.config.loop, trigger=trigger)
        self.loop = loop

        def cycle(info: CycleInfo) -> None:
            if before_step is not None:
                before_step(info)
            sink(self.step(info.now_s, info.miss_streak))

        self._on_trigger = loop.notify if loop.trigger == "sensor" else None
        try:
            return loop.run(cycle, seconds=seconds, cycles=cycles, realtime=realtime)
        finally:
            self._on_trigger = None
