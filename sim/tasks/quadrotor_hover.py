"""quadrotor-hover: reach and hold a target position from a random initial state.

A batched, Gymnasium-compatible vector environment over any Engine. Episodes
are drawn from (seed, episode index) alone, so every episode, including a
failed one, can be replayed by itself. The observation is built by
deploy.observations from the task's contract, the same code the robot runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy.actions import action_to_actuator, actuator_to_action, clip_action
from deploy.contract import CTBR_TARGETS, ActionTerm, CommandTerm, Contract, ObservationTerm
from deploy.rate_controller import hover_collective_thrust, require_gains
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle, quat_multiply, quat_to_rotmat
from sim.config_files import load_yaml_config
from sim.engines.base import Engine
from sim.randomization.quadrotor import EpisodeSample, QuadrotorRandomization, nominal_sample
from sim.robots.quadrotor import QuadrotorParams, load_preset
from sim.tasks.batched_task import BatchedTaskEnv, check_reward_terms, scaled_reward_terms, stack_states
from sim.tasks.references import Figure8Reference, HoverReference, Reference

TASK_NAME = "quadrotor-hover"
DEFAULT_CONFIG = Path(__file__).with_suffix(".yaml")


def _positive_or_none(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"hover task config: {name} must be a positive number of metres, found {value!r}")
    return float(value)


#: The task's action modes (config `action.mode`): "motors" (default) commands each motor's
#: normalized command; "ctbr" commands normalized collective thrust and body rates, flown by the
#: vehicle's modelled flight-controller rate loop (sim/engines/rate_loop_engine.py).
ACTION_MODES = ("motors", "ctbr")
_ACTION_KEYS = {"mode", "max_roll_pitch_rate_rad_s", "max_yaw_rate_rad_s"}


def _action_section(d: Any) -> dict[str, Any]:
    if d is None:
        return {"mode": "motors"}
    if not isinstance(d, dict) or set(d) - _ACTION_KEYS:
        raise ValueError(
            f"hover task config: `action` must be a mapping with keys among {sorted(_ACTION_KEYS)}, found "
            f"{d!r}; see sim/tasks/quadrotor_hover_ctbr.yaml"
        )
    mode = d.get("mode", "motors")
    if mode not in ACTION_MODES:
        raise ValueError(f"hover task config: action.mode '{mode}' unknown; expected one of {ACTION_MODES}")
    out: dict[str, Any] = {"mode": mode}
    if mode == "ctbr":
        for key in ("max_roll_pitch_rate_rad_s", "max_yaw_rate_rad_s"):
            value = d.get(key)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise ValueError(
                    f"hover task config: action.{key} must be a positive number of rad/s (the body rate an "
                    f"action of ±1 commands), found {value!r}"
                )
            out[key] = float(value)
    elif set(d) - {"mode"}:
        raise ValueError(
            f"hover task config: action keys {sorted(set(d) - {'mode'})} apply to mode ctbr only; "
            "remove them or set action.mode: ctbr"
        )
    return out


@dataclass(frozen=True)
class HoverConfig:
    robot: str
    control_rate_hz: float
    physics_dt_s: float
    episode_length_s: float
    target_pos_m: tuple[float, float, float]
    initial_state: dict[str, Any]
    termination: dict[str, Any]
    success: dict[str, Any]
    observations: tuple[ObservationTerm, ...]
    rewards: dict[str, float]
    scenarios: dict[str, Any] = field(default_factory=dict)
    #: Width r (m) of the 'precision' reward exp(−‖e‖²/r²); None: the success radius.
    precision_radius_m: float | None = None
    #: `action` section: mode (ACTION_MODES) and, for ctbr, the body rates an action of ±1 commands
    action: dict[str, Any] = field(default_factory=lambda: {"mode": "motors"})
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> HoverConfig:
        return cls.from_dict(load_yaml_config(path))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HoverConfig:
        required = {
            "robot",
            "control_rate_hz",
            "physics_dt_s",
            "episode_length_s",
            "target_pos_m",
            "initial_state",
            "termination",
            "success",
            "observations",
            "rewards",
        }
        optional = {"scenarios", "precision_radius_m", "action"}
        missing, unknown = required - set(d), set(d) - required - optional
        if missing or unknown:
            raise ValueError(
                f"hover task config: missing {sorted(missing)}, unknown {sorted(unknown)}; "
                f"see {DEFAULT_CONFIG} for the documented defaults"
            )
        check_reward_terms(d["rewards"], REWARD_TERMS)
        return cls(
            robot=d["robot"],
            control_rate_hz=float(d["control_rate_hz"]),
            physics_dt_s=float(d["physics_dt_s"]),
            episode_length_s=float(d["episode_length_s"]),
            target_pos_m=tuple(float(x) for x in d["target_pos_m"]),
            initial_state=dict(d["initial_state"]),
            termination=dict(d["termination"]),
            success=dict(d["success"]),
            observations=tuple(ObservationTerm(**t) for t in d["observations"]),
            rewards={k: float(v) for k, v in d["rewards"].items()},
            scenarios=dict(d.get("scenarios") or {}),
            precision_radius_m=_positive_or_none(d.get("precision_radius_m"), "precision_radius_m"),
            action=_action_section(d.get("action")),
            source=d,
        )

    @property
    def precision_reward_radius_m(self) -> float:
        """Width of the 'precision' reward: precision_radius_m, else the success radius."""
        if self.precision_radius_m is not None:
            return self.precision_radius_m
        return float(self.success["max_pos_err_m"])

    @property
    def control_dt_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def episode_steps(self) -> int:
        return int(round(self.episode_length_s * self.control_rate_hz))

    def reference(self, scenario: str = "hover") -> Reference:
        """The target the vehicle tracks: 'hover' (default) or a scenario from the config."""
        if scenario == "hover":
            return HoverReference(np.asarray(self.target_pos_m))
        if scenario == "figure8" and "figure8" in self.scenarios:
            return Figure8Reference.from_dict(self.scenarios["figure8"], self.target_pos_m)
        raise ValueError(f"unknown scenario '{scenario}'; available: {['hover', *sorted(self.scenarios)]}")

    @property
    def action_mode(self) -> str:
        return str(self.action["mode"])

    def nominal_params(self) -> QuadrotorParams:
        params = load_preset(self.robot)
        if self.action_mode == "ctbr":
            require_gains(params)
        return params

    def hover_actuator_command(
        self, params: QuadrotorParams | None = None, nominal: QuadrotorParams | None = None
    ) -> np.ndarray:
        """(A,) actuator command, in the action terms' units, that holds `params` (default: the
        nominal vehicle) in a level hover: each motor at its hover command, or (ctbr) the collective
        thrust that carries its weight with zero body rates for a flight controller configured for
        `nominal` (default: read from the task's robot)."""
        nominal = nominal or self.nominal_params()
        p = params or nominal
        if self.action_mode == "ctbr":
            return np.array([hover_collective_thrust(p, nominal), 0.0, 0.0, 0.0])
        return np.full(p.num_motors, p.hover_command)

    def _action_terms(self, params: QuadrotorParams) -> tuple[ActionTerm, ...]:
        if self.action_mode == "ctbr":
            rp, yaw = self.action["max_roll_pitch_rate_rad_s"], self.action["max_yaw_rate_rad_s"]
            return (
                ActionTerm(
                    name="collective_thrust",
                    target_names=CTBR_TARGETS[:1],
                    scale=0.5,
                    offset=0.5,
                    low=-1.0,
                    high=1.0,
                    unit="normalized collective thrust [0, 1] of the vehicle's maximum",
                ),
                ActionTerm(
                    name="body_rate_roll_pitch",
                    target_names=CTBR_TARGETS[1:3],
                    scale=rp,
                    low=-1.0,
                    high=1.0,
                    unit="rad/s, body FLU (roll about x forward, pitch about y left)",
                ),
                ActionTerm(
                    name="body_rate_yaw",
                    target_names=CTBR_TARGETS[3:],
                    scale=yaw,
                    low=-1.0,
                    high=1.0,
                    unit="rad/s, body FLU (about z up)",
                ),
            )
        return (
            ActionTerm(
                name="motor_command",
                target_names=params.motor_names,
                scale=0.5,
                offset=0.5,
                low=-1.0,
                high=1.0,
                unit="normalized motor command [0, 1]",
            ),
        )

    def contract(self) -> Contract:
        params = self.nominal_params()
        return Contract(
            task=TASK_NAME,
            robot=f"quadrotor-x{params.num_motors}",
            control_rate_hz=self.control_rate_hz,
            observations=self.observations,
            actions=self._action_terms(params),
            commands=(CommandTerm("target_pos_m", 3, "m"), CommandTerm("target_vel_m_s", 3, "m/s")),
            sensors=("odometry",),
            action_mode="ctbr" if self.action_mode == "ctbr" else "actuators",
        )


# -- reward terms: each (N,) ≥ 0 magnitudes; the config's scale gives sign and weight ----------


@dataclass
class StepContext:
    state: RobotState
    action: np.ndarray
    prev_action: np.ndarray
    pos_err_m: np.ndarray
    vel_err_m_s: np.ndarray
    crashed: np.ndarray
    precision_radius_m: float


REWARD_TERMS: dict[str, Callable[[StepContext], np.ndarray]] = {
    "position": lambda c: np.linalg.norm(c.pos_err_m, axis=1),
    # 1 at the target, e^-1 at the precision radius, ~0 beyond 2 radii: a steep reward for the last
    # centimetres, where the linear 'position' term's pull is weak against the alive bonus.
    "precision": lambda c: np.exp(-np.sum(c.pos_err_m**2, axis=1) / c.precision_radius_m**2),
    "velocity": lambda c: np.linalg.norm(c.vel_err_m_s, axis=1),
    "orientation": lambda c: 1.0 - quat_to_rotmat(c.state.base_quat_wxyz)[:, 2, 2],
    "angular_velocity": lambda c: np.linalg.norm(c.state.base_ang_vel_rad_s, axis=1),
    "action": lambda c: np.sum((c.action - c.action.mean(axis=1, keepdims=True)) ** 2, axis=1),
    "action_rate": lambda c: np.sum((c.action - c.prev_action) ** 2, axis=1),
    # ‖a − a_prev‖, not squared: RAPTOR's smoothness term (weight equal to its position term's). It
    # costs small steady chatter as much as the squared form costs large jumps.
    "action_rate_norm": lambda c: np.linalg.norm(c.action - c.prev_action, axis=1),
    "alive": lambda c: (~c.crashed).astype(np.float64),
    "crash": lambda c: c.crashed.astype(np.float64),
}


class QuadrotorHoverEnv(BatchedTaskEnv):
    """N quadrotors flying the hover task on one engine (episode bookkeeping: BatchedTaskEnv)."""

    def __init__(
        self,
        num_envs: int,
        config: HoverConfig | None = None,
        randomization: QuadrotorRandomization | None = None,
        engine: str = "mujoco",
        seed: int = 0,
        autoreset: bool = True,
        reference: Reference | None = None,
        start_at_target_fraction: float = 0.0,
    ) -> None:
        if not 0.0 <= start_at_target_fraction <= 1.0:
            raise ValueError(
                f"start_at_target_fraction must be in [0, 1], found {start_at_target_fraction}"
            )
        self.config = config or HoverConfig.from_yaml()
        #: Training only: this fraction of episodes starts at the target, level and at rest
        #: (Learning to Fly, RAPTOR: 10 %), so the policy practises holding, not only arriving.
        #: Evaluation leaves it at 0: every gate episode starts from the task's initial-state ranges.
        self.start_at_target_fraction = float(start_at_target_fraction)
        self._precision_radius_m = self.config.precision_reward_radius_m
        self._init_batch(num_envs, self.config.contract(), randomization, seed, autoreset)
        self.nominal = self.config.nominal_params()
        self.reference = reference or self.config.reference("hover")
        self.engine: Engine = make_engine(engine, [self.nominal] * num_envs, self.config)
        self.engine_name = engine

        n, a = num_envs, self.contract.action_size
        self.max_delay = 0 if randomization is None else randomization.action_delay_steps[1]
        self._action_queue = np.zeros((n, self.max_delay + 1, a))
        self._delay = np.zeros(n, dtype=np.int64)
        self._force_world_n = np.zeros((n, 3))  # each episode's constant disturbance
        self._torque_world_nm = np.zeros((n, 3))
        window = int(round(self.config.success["window_s"] * self.config.control_rate_hz))
        self._err_window = np.zeros((n, max(window, 1)))

    # -- episode sampling -------------------------------------------------

    def sample_episode(self, episode_index: int) -> tuple[EpisodeSample, RobotState]:
        """The vehicle and initial state of one episode, from (seed, episode index) only."""
        rng = self.episode_rng(episode_index)
        if self.randomization is None:
            sample = nominal_sample(self.nominal, self.term_names)
        else:
            sample = self.randomization.sample(
                self.nominal, rng, self.term_names, rate_controller=self.config.action_mode == "ctbr"
            )
        return sample, self._initial_state(rng)

    def _initial_state(self, rng: np.random.Generator) -> RobotState:
        ini = self.config.initial_state
        pos = np.asarray(self.config.target_pos_m) + _in_ball(rng, ini["max_pos_offset_m"])
        tilt = np.deg2rad(rng.uniform(0.0, ini["max_tilt_deg"]))
        axis_angle = rng.uniform(0.0, 2 * np.pi)
        q_tilt = quat_from_axis_angle(np.array([np.cos(axis_angle), np.sin(axis_angle), 0.0]), tilt)
        yaw = np.deg2rad(rng.uniform(-ini["max_yaw_deg"], ini["max_yaw_deg"]))
        q = quat_multiply(q_tilt, quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), yaw))
        vel = _unit(rng) * rng.uniform(0.0, ini["max_lin_vel_m_s"])
        omega = _unit(rng) * rng.uniform(0.0, ini["max_ang_vel_rad_s"])
        # Drawn after everything else, and only when enabled, so that episodes that do not start
        # at the target are the same draws as without this option.
        if self.start_at_target_fraction > 0.0 and rng.uniform() < self.start_at_target_fraction:
            pos = np.asarray(self.config.target_pos_m, dtype=np.float64)
            q = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), yaw)
            vel, omega = np.zeros(3), np.zeros(3)
        return RobotState(
            base_pos_m=pos[None],
            base_quat_wxyz=q[None],
            base_lin_vel_m_s=vel[None],
            base_ang_vel_rad_s=omega[None],
            last_action=np.zeros((1, self.contract.action_size)),
            command=np.zeros((1, self.contract.command_size)),
        )

    # -- Gymnasium API ----------------------------------------------------------

    def _reset_envs(self, env_ids: np.ndarray, episode_indices: np.ndarray) -> None:
        samples, inits = zip(*(self.sample_episode(int(e)) for e in episode_indices), strict=True)
        initial = stack_states(inits)
        at_hover = self.config.initial_state.get("motor_command") == "hover"
        if self.config.action_mode == "ctbr":
            # The flight controller starts mixing the thrust that carries the vehicle, level; "off" is
            # zero thrust with zero rates (an action of -1 would command the most negative rates).
            hover = np.array([self.config.hover_actuator_command(s.params, self.nominal) for s in samples])
            cmd = hover if at_hover else np.zeros_like(hover)
            hover_action = actuator_to_action(self.contract, hover)
            off_action = actuator_to_action(self.contract, np.zeros(self.contract.action_size))
        else:
            hover = np.array([[s.params.hover_command] * s.params.num_motors for s in samples])
            cmd = hover if at_hover else np.zeros_like(hover)
            hover_action = 2.0 * hover - 1.0
            off_action = np.full(self.contract.action_size, -1.0)
        self.engine.reset(env_ids, [s.params for s in samples], initial, cmd)
        for k, (i, s) in enumerate(zip(env_ids, samples, strict=True)):
            self._delay[i] = s.action_delay_steps
            self._force_world_n[i] = s.force_world_n
            self._torque_world_nm[i] = s.torque_world_nm
            self._action_queue[i] = hover_action[k] if at_hover else off_action
        self._last_action[env_ids] = self._action_queue[env_ids, 0]
        self._err_window[env_ids] = np.nan  # a crash in the first second averages what was flown
        self._apply_disturbances()
        self._begin_episodes(env_ids, episode_indices, samples)

    def _apply_disturbances(self) -> None:
        self.engine.set_external_wrench(self._force_world_n, self._torque_world_nm)

    def robot_state(self) -> RobotState:
        """The RobotState a controller sees now (same one the observation is built from)."""
        state = self.engine.state()
        time_s = self._step_count * self.config.control_dt_s
        target_pos, target_vel = self.reference(time_s)
        state.time_s = time_s
        state.last_action = self._last_action.copy()
        state.command = np.concatenate([target_pos, target_vel], axis=1)
        return state

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        action = clip_action(self.contract, np.asarray(actions, dtype=np.float64))
        prev_action = self._last_action.copy()
        active = ~self._finished
        # Action latency: the motors receive the action issued `delay` steps ago.
        self._action_queue = np.roll(self._action_queue, 1, axis=1)
        self._action_queue[:, 0] = action
        applied = self._action_queue[np.arange(self.num_envs), self._delay]
        # Finished (evaluation) environments keep flying the last command; they are ignored.
        self.engine.step(action_to_actuator(self.contract, applied))
        self._last_action = np.where(active[:, None], action, self._last_action)
        self._step_count += active

        state = self.robot_state()
        cmd = state.command
        pos_err = state.base_pos_m - cmd[:, 0:3]
        vel_err = state.base_lin_vel_m_s - cmd[:, 3:6]
        dt = self.config.control_dt_s
        with np.errstate(over="ignore", invalid="ignore"):
            crashed = self._crashed(state, pos_err) & active
            ctx = StepContext(state, action, prev_action, pos_err, vel_err, crashed, self._precision_radius_m)
            terms = scaled_reward_terms(REWARD_TERMS, self.config.rewards, ctx)
            # A simulation that blew up (non-finite state, or so large that a reward term
            # overflows) is a crash: the episode ends and only the crash/alive terms count.
            diverged = ~(state.is_finite() & np.isfinite(sum(terms.values()))) & active
        if diverged.any():
            crashed = crashed | diverged
            ctx = StepContext(state, action, prev_action, pos_err, vel_err, crashed, self._precision_radius_m)
            terms = {
                k: REWARD_TERMS[k](ctx) * s if k in ("crash", "alive") else np.where(diverged, 0.0, terms[k])
                for k, s in self.config.rewards.items()
            }
        truncated = (self._step_count >= self.config.episode_steps) & active & ~crashed
        dist = np.linalg.norm(pos_err, axis=1)
        self._err_window = np.where(
            active[:, None],
            np.concatenate([self._err_window[:, 1:], dist[:, None]], axis=1),
            self._err_window,
        )
        reward = sum(terms.values()) * dt
        if "crash" in terms:  # the crash penalty is per event, not per second
            reward = reward + terms["crash"] * (1.0 - dt)
        reward = np.where(active, reward, 0.0)
        self._episode_return += reward

        done = crashed | truncated
        window_err = np.nanmean(self._err_window, axis=1)
        infos: dict[str, Any] = {
            "pos_err_m": dist,
            "reward_terms": {k: v * dt for k, v in terms.items()},
        }
        if done.any():
            ids = np.flatnonzero(done)
            infos["done_env_ids"] = ids
            infos["episode"] = {
                "episode_index": self.episode_index[ids].copy(),
                "crashed": crashed[ids].copy(),
                "success": (~crashed[ids]) & (window_err[ids] < self.config.success["max_pos_err_m"]),
                "final_pos_err_m": window_err[ids].copy(),
                "return": self._episode_return[ids].copy(),
                "length": self._step_count[ids].copy(),
            }
        obs = self._autoreset(self._observe(state), done, infos)
        return obs.copy(), reward.astype(np.float32), crashed, truncated, infos

    def _crashed(self, state: RobotState, pos_err: np.ndarray) -> np.ndarray:
        term = self.config.termination
        out = np.any(np.abs(pos_err) > term["box_half_size_m"], axis=1)
        cos_tilt = quat_to_rotmat(state.base_quat_wxyz)[:, 2, 2]
        out |= cos_tilt < np.cos(np.deg2rad(term["max_tilt_deg"]))
        if term.get("ground_contact", True):
            out |= self.engine.ground_contact()
        if "max_body_rate_rad_s" in term:
            out |= ~(np.linalg.norm(state.base_ang_vel_rad_s, axis=1) <= term["max_body_rate_rad_s"])
        out |= ~state.is_finite()
        return out

    def actuator_state(self) -> tuple[np.ndarray, np.ndarray]:
        """What the motors are doing, in action units ([-1, 1] ↔ command [0, 1]); simulation only.

        Returns (rotor speeds (N, M) as the steady-state action that would hold them,
        pending actions (N, max_delay, A)): pending[:, k] is the action that reaches the
        motors k + 1 steps from now if it was already issued (the action delay), else 0.
        For asymmetric critics: no robot measures these, so they never enter the contract.
        """
        pending = np.zeros((self.num_envs, self.max_delay, self.contract.action_size))
        for k in range(self.max_delay):
            waiting = self._delay > k  # the action applied k+1 steps from now is already queued
            slot = np.clip(self._delay - 1 - k, 0, self.max_delay)
            pending[:, k] = np.where(
                waiting[:, None], self._action_queue[np.arange(self.num_envs), slot], 0.0
            )
        return 2.0 * self.engine.rotors.speed_as_command() - 1.0, pending


#: Physics engines a quadrotor task can run on; "analytic" is for training only (gates use MuJoCo).
ENGINE_NAMES = ("mujoco", "pybullet", "analytic")


def make_engine(name: str, params: list[QuadrotorParams], config: HoverConfig) -> Engine:
    """The task's engine: motor-level, or (action mode ctbr) wrapped in the flight controller's
    rate loop, run at the physics rate (sim/engines/rate_loop_engine.py)."""
    if config.action_mode == "ctbr":
        from sim.engines.rate_loop_engine import RateLoopEngine

        return RateLoopEngine(
            lambda p, control_dt_s, physics_dt_s: make_motor_engine(name, p, control_dt_s, physics_dt_s),
            params, config.control_dt_s, config.physics_dt_s,
        )  # fmt: skip
    return make_motor_engine(name, params, config.control_dt_s, config.physics_dt_s)


def make_motor_engine(
    name: str, params: list[QuadrotorParams], control_dt_s: float, physics_dt_s: float
) -> Engine:
    """A motor-level quadrotor engine by name (ENGINE_NAMES)."""
    if name == "mujoco":
        from sim.engines.mujoco_engine import MujocoQuadrotorEngine

        return MujocoQuadrotorEngine(params, control_dt_s, physics_dt_s)
    if name == "pybullet":
        try:
            from sim.engines.pybullet_engine import PybulletQuadrotorEngine
        except ImportError as exc:
            raise ValueError(f"the PyBullet engine is not available: {exc}") from exc
        return PybulletQuadrotorEngine(params, control_dt_s, physics_dt_s)
    if name == "analytic":
        from sim.engines.analytic_engine import AnalyticQuadrotorEngine

        return AnalyticQuadrotorEngine(params, control_dt_s, physics_dt_s)
    raise ValueError(f"unknown engine '{name}'; expected one of {ENGINE_NAMES}")


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / max(np.linalg.norm(v), 1e-12)


def _in_ball(rng: np.random.Generator, radius: float) -> np.ndarray:
    return _unit(rng) * radius * rng.uniform() ** (1.0 / 3.0)
