"""Simulator bridge (hardware-in-the-loop): a simulated quadrotor stands in for the robot.

The only module of deploy/ allowed to import sim/: it plays the hardware
interface's part. Each cycle it publishes the engine's state to the
runtime's inputs (odometry, and the task's command: target position and
velocity) and applies the runtime's actuator command to the engine for one
control period. The runtime itself does not know it is simulated.

Episodes come from the hover task's (seed, episode index), exactly as
`tether eval` draws them, so a run through the runtime can be compared step
by step with the evaluation of the same policy (tests/test_runtime_parity.py).
The simulated vehicle starts in the air with its rotors at hover, so the
bridge skips the start-up sequence (airborne_profile).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deploy.actions import action_to_actuator
from deploy.robot_state import RobotState
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Command, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, QuadrotorStarting, RobotProfile
from deploy.runtime.rt_loop import CycleInfo, LoopStatsSnapshot
from deploy.runtime.runtime import Runtime, RuntimeOutput
from deploy.runtime.stamps import StampClock
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv

OdometryTransform = Callable[[Odometry], Odometry | None]


def airborne_profile(profile: RobotProfile) -> RobotProfile:
    """The profile with a zero-length start-up: the simulated vehicle is already flying."""
    q = profile.quadrotor
    if q is None:
        return profile
    starting = QuadrotorStarting(idle_command=q.starting.idle_command, idle_s=0.0, spinup_s=0.0)
    return dataclasses.replace(profile, quadrotor=dataclasses.replace(q, starting=starting))


class QuadrotorSimBridge:
    """Connects one simulated quadrotor (a batch-of-one hover environment) to a Runtime."""

    def __init__(self, runtime: Runtime, env: QuadrotorHoverEnv) -> None:
        if env.num_envs != 1:
            raise ValueError(f"the bridge drives one vehicle; the environment has {env.num_envs}")
        names = env.engine.actuator_names
        if set(names) != set(runtime.profile.actuators):
            raise ValueError(
                f"the simulated vehicle has actuators {list(names)}, the robot profile "
                f"{list(runtime.profile.actuators)}; use the profile of the simulated robot"
            )
        self.runtime = runtime
        self.env = env
        self.engine = env.engine
        # runtime outputs are in profile order; the engine takes its own order: match by name
        self._perm = np.array([runtime.profile.actuators.index(n) for n in names])
        self.step_count = 0
        #: Actuator commands (engine order) still on their way to the motors: under randomization
        #: an episode's actions arrive `action_delay_steps` control periods late, as in evaluation.
        self._in_flight: list[np.ndarray] = []

    @property
    def sim_time_s(self) -> float:
        return self.step_count * self.env.config.control_dt_s

    def reset(self, episode_index: int = 0, seed: int | None = None) -> None:
        """Start episode `episode_index` of `seed` (the environment's seed by default)."""
        self.env.reset(
            seed=self.env.seed if seed is None else seed, options={"episode_indices": [episode_index]}
        )
        self.step_count = 0
        sample = self.env.samples[0]
        delay = 0 if sample is None else int(sample.action_delay_steps)
        # the evaluation's delay queue starts full of the initial motor command
        initial = action_to_actuator(self.env.contract, self.env.robot_state().last_action)[0]
        self._in_flight = [initial.copy() for _ in range(delay)]

    def reset_to(
        self,
        pos_m: np.ndarray,
        quat_wxyz: np.ndarray | None = None,
        lin_vel_m_s: np.ndarray | None = None,
        ang_vel_rad_s: np.ndarray | None = None,
    ) -> None:
        """Put the nominal vehicle into a chosen state (level and at rest by default) with its
        rotors at hover (tests, HIL set-up)."""
        self.reset(0)
        p = self.env.nominal

        def row(x: np.ndarray | None, default: list[float]) -> np.ndarray:
            return np.asarray(default if x is None else x, dtype=np.float64)[None]

        initial = RobotState(
            base_pos_m=row(pos_m, [0.0, 0.0, 0.0]),
            base_quat_wxyz=row(quat_wxyz, [1.0, 0.0, 0.0, 0.0]),
            base_lin_vel_m_s=row(lin_vel_m_s, [0.0, 0.0, 0.0]),
            base_ang_vel_rad_s=row(ang_vel_rad_s, [0.0, 0.0, 0.0]),
            last_action=np.zeros((1, 0)),
            command=np.zeros((1, 0)),
        )
        self.engine.reset(np.array([0]), [p], initial, np.full((1, p.num_motors), p.hover_command))
        self.engine.set_external_wrench(np.zeros((1, 3)), np.zeros((1, 3)))
        self._in_flight = []

    def current_action(self) -> np.ndarray:
        """What the simulated motors are doing now, in action units (contract order)."""
        return self.env.robot_state().last_action[0].copy()

    def target(self) -> tuple[np.ndarray, np.ndarray]:
        pos, vel = self.env.reference(np.array([self.sim_time_s]))
        return pos[0], vel[0]

    def publish(self, stamp_s: float, transform: OdometryTransform | None = None) -> None:
        """Publish the simulated sensors; `transform` may alter or drop (None) the odometry."""
        s = self.engine.state()
        odo: Odometry | None = Odometry(
            pos_m=s.base_pos_m[0],
            quat_wxyz=s.base_quat_wxyz[0],
            lin_vel_m_s=s.base_lin_vel_m_s[0],
            ang_vel_rad_s=s.base_ang_vel_rad_s[0],
        )
        if transform is not None and odo is not None:
            odo = transform(odo)
        if odo is not None:
            self.runtime.put("odometry", odo, stamp_s)
        if self.runtime.contract.command_size:
            pos, vel = self.target()
            self.runtime.put("command", Command(np.concatenate([pos, vel])), stamp_s)

    def apply(self, output: RuntimeOutput) -> None:
        """Hold the runtime's actuator command (or, with an action delay, the one issued that
        many periods ago) on the engine for one control period."""
        command = output.actuator_command[self._perm]
        if self._in_flight:
            self._in_flight.append(command)
            command = self._in_flight.pop(0)
        self.engine.step(command[None, :])
        self.step_count += 1

    def cycle(
        self, now_s: float, miss_streak: int = 0, transform: OdometryTransform | None = None
    ) -> RuntimeOutput:
        """Publish, run one runtime cycle at `now_s`, apply its command."""
        self.publish(now_s, transform)
        out = self.runtime.step(now_s, miss_streak)
        self.apply(out)
        return out

    def position_m(self) -> np.ndarray:
        return self.engine.state().base_pos_m[0].copy()

    def ground_contact(self) -> bool:
        return bool(self.engine.ground_contact()[0])


def make_sim_runtime(
    policy: str | Path,
    profile: RobotProfile | str | Path = DEFAULT_PROFILE,
    config: RuntimeConfig | None = None,
    engine: str = "mujoco",
    seed: int = 0,
    task_config: HoverConfig | None = None,
    providers: list[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    randomization: QuadrotorRandomization | None = None,
    stamp_clock: StampClock | None = None,
) -> tuple[Runtime, QuadrotorSimBridge]:
    """A runtime for `policy` on `profile` (made airborne), bridged to a simulated hover episode.

    With `randomization`, each episode's vehicle, disturbance and action delay are drawn as
    `tether eval --randomize` draws them. Observation noise is not: the runtime observes the
    published state as a robot would, so it flies evaluation's episode exactly only where the
    randomization's observation noise is zero.
    """
    if not isinstance(profile, RobotProfile):
        profile = RobotProfile.from_yaml(profile)
    env = QuadrotorHoverEnv(
        1, config=task_config, randomization=randomization, engine=engine, seed=seed, autoreset=False
    )
    runner = PolicyRunner(
        policy, airborne_profile(profile), expected_contract=env.contract, providers=providers
    )
    runtime = Runtime(runner, config, clock=clock, stamp_clock=stamp_clock)
    return runtime, QuadrotorSimBridge(runtime, env)


def run_in_sim(
    policy: str | Path,
    seconds: float,
    engine: str = "mujoco",
    seed: int = 0,
    episode_index: int = 0,
    profile: RobotProfile | str | Path = DEFAULT_PROFILE,
    config: RuntimeConfig | None = None,
    providers: list[str] | None = None,
    realtime: bool = True,
) -> dict[str, Any]:
    """`tether run`: the runtime flies a simulated episode in real time on its loop; returns a report."""
    runtime, bridge = make_sim_runtime(policy, profile, config, engine, seed, providers=providers)
    try:
        bridge.reset(episode_index)
        now = time.monotonic()
        bridge.publish(now)
        runtime.arm(now, current_action=bridge.current_action())
        sources: dict[str, int] = {}

        def before(info: CycleInfo) -> None:
            bridge.publish(info.now_s)

        def sink(out: RuntimeOutput) -> None:
            bridge.apply(out)
            sources[out.source] = sources.get(out.source, 0) + 1

        stats: LoopStatsSnapshot = runtime.run(sink, seconds=seconds, before_step=before, realtime=realtime)
        target, _ = bridge.target()
        pos = bridge.position_m()
        return {
            "policy": str(policy),
            "engine": engine,
            "seed": seed,
            "episode_index": episode_index,
            "seconds": seconds,
            "rate_hz": runtime.contract.control_rate_hz,
            "final_state": runtime.state.value,
            "final_pos_err_m": float(np.linalg.norm(pos - target)),
            "final_pos_m": pos.tolist(),
            "cycles_by_source": sources,
            "loop": stats.to_dict(),
            "diagnostics": runtime.diagnostics(stats),
        }
    finally:
        bridge.env.close()
