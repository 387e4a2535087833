"""quadruped-walk: track a commanded base velocity (vx, vy, yaw rate) on flat ground.

A batched, Gymnasium-compatible vector environment over the quadruped
engine, shaped like quadrotor-hover: episodes are drawn from (seed, episode
index) alone (robot parameters, initial state, command schedule, pushes), so
every episode can be replayed by itself; the actor's observation is built by
deploy.observations from the task's contract, the same code the robot runs.

Actions are joint position targets around the default pose, one contract
action term per joint (offset = default angle, scale = action scale), so the
contract carries joint names, order, default pose and action scaling. The
PD loop turns targets into torques inside the physics (see
sim/robots/quadruped_mujoco.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deploy.actions import action_bounds, action_to_actuator, clip_action
from deploy.contract import ActionTerm, CommandTerm, Contract, JointDrive, ObservationTerm
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_yaw, quat_to_rotmat, rotate_world_to_body
from sim.config_files import load_yaml_config
from sim.engines.mujoco_quadruped_engine import MujocoQuadrupedEngine
from sim.randomization.quadruped import QuadrupedEpisodeSample, QuadrupedRandomization, nominal_sample
from sim.robots.quadruped import JOINT_NAMES, LEG_NAMES, QuadrupedParams, load_preset
from sim.tasks.batched_task import BatchedTaskEnv, check_reward_terms, scaled_reward_terms, stack_states

if TYPE_CHECKING:
    from sim.engines.pybullet_quadruped_engine import PybulletQuadrupedEngine

TASK_NAME = "quadruped-walk"
DEFAULT_CONFIG = Path(__file__).with_suffix(".yaml")
COMMAND_NAME = "velocity_command"


@dataclass(frozen=True)
class WalkConfig:
    robot: str
    control_rate_hz: float
    physics_dt_s: float
    episode_length_s: float
    commands: dict[str, Any]
    initial_state: dict[str, float]
    termination: dict[str, Any]
    metrics: dict[str, float]
    gate: dict[str, float]
    observations: tuple[ObservationTerm, ...]
    action_clip: float
    rewards: dict[str, float]
    reward_params: dict[str, Any]
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> WalkConfig:
        return cls.from_dict(load_yaml_config(path))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WalkConfig:
        required = {
            "robot", "control_rate_hz", "physics_dt_s", "episode_length_s", "commands", "initial_state",
            "termination", "metrics", "gate", "observations", "action_clip", "rewards", "reward_params",
        }
        missing, unknown = required - set(d), set(d) - required
        if missing or unknown:
            raise ValueError(
                f"quadruped-walk task config: missing {sorted(missing)}, unknown {sorted(unknown)}; "
                f"see {DEFAULT_CONFIG} for the documented defaults"
            )
        check_reward_terms(d["rewards"], REWARD_TERMS)
        _expect_keys("commands", d["commands"], {
            "lin_vel_x_m_s", "lin_vel_y_m_s", "yaw_rate_rad_s", "resampling_interval_s", "standing_fraction"
        })
        _expect_keys("initial_state", d["initial_state"], {
            "height_offset_m", "joint_pos_noise_rad", "max_lin_vel_m_s", "max_ang_vel_rad_s"
        })
        _expect_keys("termination", d["termination"], {"trunk_contact", "max_tilt_deg"})
        _expect_keys("metrics", d["metrics"], {"settle_s"})
        _expect_keys("gate", d["gate"], {"max_fall_rate", "max_lin_vel_err_m_s", "max_yaw_rate_err_rad_s"})
        _expect_keys("reward_params", d["reward_params"], {
            "tracking_sigma", "base_height_target_m", "feet_air_time_threshold_s",
            "soft_joint_limit_fraction", "only_positive_rewards",
        })
        return cls(
            robot=str(d["robot"]),
            control_rate_hz=float(d["control_rate_hz"]),
            physics_dt_s=float(d["physics_dt_s"]),
            episode_length_s=float(d["episode_length_s"]),
            commands=dict(d["commands"]),
            initial_state={k: float(v) for k, v in d["initial_state"].items()},
            termination=dict(d["termination"]),
            metrics={k: float(v) for k, v in d["metrics"].items()},
            gate={k: float(v) for k, v in d["gate"].items()},
            observations=tuple(ObservationTerm(**t) for t in d["observations"]),
            action_clip=float(d["action_clip"]),
            rewards={k: float(v) for k, v in d["rewards"].items()},
            reward_params=dict(d["reward_params"]),
            source=d,
        )

    @property
    def control_dt_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def episode_steps(self) -> int:
        return int(round(self.episode_length_s * self.control_rate_hz))

    def nominal_params(self) -> QuadrupedParams:
        return load_preset(self.robot)

    def contract(self) -> Contract:
        params = self.nominal_params()
        actions = tuple(
            ActionTerm(
                name=f"{joint}_position_target",
                target_names=(joint,),
                scale=params.action_scale_rad,
                offset=q0,
                low=-self.action_clip,
                high=self.action_clip,
                unit="rad (joint position target of the PD loop)",
            )
            for joint, q0 in zip(JOINT_NAMES, params.default_joint_pos_rad, strict=True)
        )
        return Contract(
            task=TASK_NAME,
            robot=f"quadruped-{params.name}",
            control_rate_hz=self.control_rate_hz,
            observations=self.observations,
            actions=actions,
            commands=(CommandTerm(COMMAND_NAME, 3, "m/s, m/s, rad/s (body vx, vy, yaw rate)"),),
            sensors=("imu", "joint_states"),
            joints=tuple(
                JointDrive(
                    name=joint,
                    default_pos_rad=float(params.default_joint_pos_rad[k]),
                    kp_nm_per_rad=float(params.kp_nm_per_rad[k]),
                    kd_nm_s_per_rad=float(params.kd_nm_s_per_rad[k]),
                    torque_limit_nm=float(params.torque_limits_nm[k]),
                )
                for k, joint in enumerate(JOINT_NAMES)
            ),
        )


def _expect_keys(section: str, d: Any, keys: set[str]) -> None:
    if not isinstance(d, dict) or set(d) != keys:
        found = sorted(d) if isinstance(d, dict) else d
        raise ValueError(
            f"quadruped-walk task config section '{section}': expected keys {sorted(keys)}, found {found}; "
            f"see {DEFAULT_CONFIG}"
        )


# -- reward terms: each (N,) magnitude; the config's scale gives sign and weight -------------------


@dataclass
class StepContext:
    lin_vel_body_m_s: np.ndarray  # (N, 3)
    ang_vel_body_rad_s: np.ndarray  # (N, 3)
    gravity_body: np.ndarray  # (N, 3)
    command: np.ndarray  # (N, 3)
    height_m: np.ndarray  # (N,)
    torque_sq: np.ndarray  # (N, 12)
    joint_acc_rad_s2: np.ndarray  # (N, 12)
    joint_pos_rad: np.ndarray  # (N, 12)
    soft_limits_rad: np.ndarray  # (12, 2)
    action: np.ndarray
    prev_action: np.ndarray
    air_time_reward_s: np.ndarray  # (N,)
    collisions: np.ndarray  # (N,)
    fell: np.ndarray  # (N,)
    params: dict[str, Any]


def _tracking_lin(c: StepContext) -> np.ndarray:
    err = np.sum((c.command[:, :2] - c.lin_vel_body_m_s[:, :2]) ** 2, axis=1)
    return np.exp(-err / c.params["tracking_sigma"])


def _tracking_ang(c: StepContext) -> np.ndarray:
    err = (c.command[:, 2] - c.ang_vel_body_rad_s[:, 2]) ** 2
    return np.exp(-err / c.params["tracking_sigma"])


def _dof_pos_limits(c: StepContext) -> np.ndarray:
    lo, hi = c.soft_limits_rad[:, 0], c.soft_limits_rad[:, 1]
    q = c.joint_pos_rad
    return np.sum(np.clip(lo - q, 0.0, None) + np.clip(q - hi, 0.0, None), axis=1)


REWARD_TERMS: dict[str, Callable[[StepContext], np.ndarray]] = {
    "tracking_lin_vel": _tracking_lin,
    "tracking_ang_vel": _tracking_ang,
    "lin_vel_z": lambda c: c.lin_vel_body_m_s[:, 2] ** 2,
    "ang_vel_xy": lambda c: np.sum(c.ang_vel_body_rad_s[:, :2] ** 2, axis=1),
    "orientation": lambda c: np.sum(c.gravity_body[:, :2] ** 2, axis=1),
    "base_height": lambda c: (c.height_m - c.params["base_height_target_m"]) ** 2,
    "torques": lambda c: np.sum(c.torque_sq, axis=1),
    "dof_acc": lambda c: np.sum(c.joint_acc_rad_s2**2, axis=1),
    "action_rate": lambda c: np.sum((c.action - c.prev_action) ** 2, axis=1),
    "feet_air_time": lambda c: c.air_time_reward_s,
    "collision": lambda c: c.collisions.astype(np.float64),
    "dof_pos_limits": _dof_pos_limits,
    "termination": lambda c: c.fell.astype(np.float64),
}

#: Privileged critic terms (simulation only), in order; see QuadrupedWalkEnv.privileged_observation.
PRIVILEGED_TERMS: tuple[tuple[str, int], ...] = (
    ("base_lin_vel_body_m_s", 3),
    ("base_height_m", 1),
    ("foot_contact", 4),
    ("friction_coefficient", 1),
    ("trunk_mass_delta_kg", 1),
    ("trunk_com_offset_m", 3),
    ("motor_strength", 12),
    ("kp_ratio", 1),
    ("kd_ratio", 1),
    ("action_delay_s", 1),
)
PRIVILEGED_SIZE = sum(size for _, size in PRIVILEGED_TERMS)


@dataclass(frozen=True)
class EpisodePlan:
    """What the task (not the robot) draws for one episode: commands over time and the start."""

    commands: np.ndarray  # (K, 3): command k holds from k · resampling_interval_s
    initial: RobotState


class QuadrupedWalkEnv(BatchedTaskEnv):
    """N quadrupeds running the walk task on one engine (episode bookkeeping: BatchedTaskEnv)."""

    def __init__(
        self,
        num_envs: int,
        config: WalkConfig | None = None,
        randomization: QuadrupedRandomization | None = None,
        engine: str = "mujoco",
        seed: int = 0,
        autoreset: bool = True,
    ) -> None:
        self.config = config or WalkConfig.from_yaml()
        contract = self.config.contract()
        low, high = action_bounds(contract)
        self._init_batch(num_envs, contract, randomization, seed, autoreset, low, high)
        self.nominal = self.config.nominal_params()
        self.engine = make_engine(engine, [self.nominal] * num_envs, self.config)
        self.engine_name = engine
        # Contract action targets → engine actuator columns, matched by name.
        targets = self.contract.action_target_names
        missing = [n for n in self.engine.actuator_names if n not in targets]
        if missing:
            raise ValueError(f"the contract commands no target for engine joints {missing}")
        self._to_engine = np.array([targets.index(n) for n in self.engine.actuator_names])
        default = action_to_actuator(self.contract, np.zeros((1, self.contract.action_size)))[0]
        self.default_joint_pos_rad = default[self._to_engine]  # engine (JOINT_NAMES) order

        n, c = num_envs, self.config
        self.resample_steps = int(round(c.commands["resampling_interval_s"] * c.control_rate_hz))
        self.num_commands = int(np.ceil(c.episode_steps / self.resample_steps))
        self._commands = np.zeros((n, self.num_commands, 3))
        self._last_joint_vel = np.zeros((n, len(JOINT_NAMES)))
        self._air_time = np.zeros((n, len(LEG_NAMES)))
        self._last_contact = np.zeros((n, len(LEG_NAMES)), dtype=bool)
        self._next_push = np.zeros(n, dtype=np.int64)
        self._lin_err_sum = np.zeros(n)
        self._yaw_err_sum = np.zeros(n)
        self._err_count = np.zeros(n, dtype=np.int64)
        self._privileged_static = np.zeros((n, PRIVILEGED_SIZE - 8))
        frac = float(c.reward_params["soft_joint_limit_fraction"])
        rng_ = self.nominal.joint_range_rad
        mid, half = rng_.mean(axis=1), 0.5 * (rng_[:, 1] - rng_[:, 0]) * frac
        self.soft_limits_rad = np.stack([mid - half, mid + half], axis=1)

    # -- episode sampling -------------------------------------------------

    def sample_episode(self, episode_index: int) -> tuple[QuadrupedEpisodeSample, EpisodePlan]:
        """The robot, pushes, commands and initial state of one episode, from (seed, index) only."""
        rng = self.episode_rng(episode_index)
        if self.randomization is None:
            sample = nominal_sample(self.nominal, self.term_names)
        else:
            sample = self.randomization.sample(
                self.nominal, rng, self.term_names, self.config.episode_length_s
            )
        return sample, self._plan(rng)

    def _plan(self, rng: np.random.Generator) -> EpisodePlan:
        c, ini = self.config.commands, self.config.initial_state
        k = self.num_commands
        commands = np.stack(
            [
                rng.uniform(*c["lin_vel_x_m_s"], size=k),
                rng.uniform(*c["lin_vel_y_m_s"], size=k),
                rng.uniform(*c["yaw_rate_rad_s"], size=k),
            ],
            axis=1,
        )
        commands[rng.uniform(size=k) < float(c["standing_fraction"])] = 0.0
        yaw = rng.uniform(-np.pi, np.pi)
        noise = ini["joint_pos_noise_rad"]
        q = self.default_joint_pos_rad + rng.uniform(-noise, noise, size=len(JOINT_NAMES))
        q = np.clip(q, self.nominal.joint_range_rad[:, 0], self.nominal.joint_range_rad[:, 1])
        v = ini["max_lin_vel_m_s"]
        w = ini["max_ang_vel_rad_s"]
        initial = RobotState(
            base_pos_m=np.array([[0.0, 0.0, self.nominal.standing_height_m() + ini["height_offset_m"]]]),
            base_quat_wxyz=quat_from_yaw(np.array([yaw])),
            base_lin_vel_m_s=np.array([[*rng.uniform(-v, v, size=2), 0.0]]),
            base_ang_vel_rad_s=rng.uniform(-w, w, size=(1, 3)),
            last_action=np.zeros((1, self.contract.action_size)),
            command=commands[:1].copy(),
            joint_names=JOINT_NAMES,
            joint_pos_rad=q[None],
            joint_vel_rad_s=np.zeros((1, len(JOINT_NAMES))),
        )
        return EpisodePlan(commands, initial)

    # -- Gymnasium API ----------------------------------------------------------

    def _reset_envs(self, env_ids: np.ndarray, episode_indices: np.ndarray) -> None:
        samples, plans = zip(*(self.sample_episode(int(e)) for e in episode_indices), strict=True)
        initial = stack_states([p.initial for p in plans])
        targets = np.tile(self.default_joint_pos_rad, (len(env_ids), 1))
        self.engine.reset(env_ids, [s.params for s in samples], initial, targets)
        for k, (i, s) in enumerate(zip(env_ids, samples, strict=True)):
            self._commands[i] = plans[k].commands
            self._privileged_static[i] = self._static_privileged(s.params)
        self._last_action[env_ids] = 0.0
        self._last_joint_vel[env_ids] = initial.joint_vel_rad_s
        self._air_time[env_ids] = 0.0
        self._last_contact[env_ids] = False
        self._next_push[env_ids] = 0
        self._lin_err_sum[env_ids] = 0.0
        self._yaw_err_sum[env_ids] = 0.0
        self._err_count[env_ids] = 0
        self._begin_episodes(env_ids, episode_indices, samples)

    def _static_privileged(self, p: QuadrupedParams) -> np.ndarray:
        nom = self.nominal
        return np.concatenate([
            [p.friction_coefficient],
            [p.trunk_mass_kg - nom.trunk_mass_kg],
            np.asarray(p.trunk_com_m) - np.asarray(nom.trunk_com_m),
            np.asarray(p.motor_strength),
            [np.mean(np.asarray(p.kp_nm_per_rad) / np.asarray(nom.kp_nm_per_rad))],
            [np.mean(np.asarray(p.kd_nm_s_per_rad) / np.asarray(nom.kd_nm_s_per_rad))],
            [p.action_delay_s],
        ])

    def command_schedule(self) -> np.ndarray:
        """(N, K, 3) each environment's commands; command k holds from k · resampling_interval_s."""
        return self._commands.copy()

    def current_command(self) -> np.ndarray:
        """(N, 3) the velocity command in effect now."""
        k = np.minimum(self._step_count // self.resample_steps, self.num_commands - 1)
        return self._commands[np.arange(self.num_envs), k]

    def robot_state(self) -> RobotState:
        """The RobotState a controller sees now (same one the observation is built from)."""
        state = self.engine.state()
        state.time_s = self._step_count * self.config.control_dt_s
        state.last_action = self._last_action.copy()
        state.command = self.current_command()
        state.joint_default_pos_rad = np.tile(self.default_joint_pos_rad, (self.num_envs, 1))
        return state

    def privileged_observation(self) -> np.ndarray:
        """(N, PRIVILEGED_SIZE) float32: true base velocity, height, foot contacts and the sampled robot."""
        s = self.engine.state()
        v_body = rotate_world_to_body(s.base_quat_wxyz, s.base_lin_vel_m_s)
        dynamic = np.concatenate(
            [v_body, s.base_pos_m[:, 2:3], self.engine.foot_contact().astype(np.float64)], axis=1
        )
        return np.concatenate([dynamic, self._privileged_static], axis=1).astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        cfg, dt = self.config, self.config.control_dt_s
        action = clip_action(self.contract, np.asarray(actions, dtype=np.float64))
        prev_action = self._last_action.copy()
        active = ~self._finished
        command = self.current_command()
        self._apply_pushes(active)
        targets = action_to_actuator(self.contract, action)[:, self._to_engine]
        self.engine.step(targets)
        self._last_action = np.where(active[:, None], action, self._last_action)
        self._step_count += active

        state = self.robot_state()
        rot = quat_to_rotmat(state.base_quat_wxyz)
        v_body = np.einsum("nji,nj->ni", rot, state.base_lin_vel_m_s)
        w_body = state.base_ang_vel_rad_s
        gravity = -rot[:, 2, :]
        fell = self._fell(state, rot) & active
        truncated = (self._step_count >= cfg.episode_steps) & active & ~fell

        # tracking errors after each command has had settle_s to take effect
        phase_steps = self._step_count - ((self._step_count - 1) // self.resample_steps) * self.resample_steps
        counted = active & (phase_steps * dt >= cfg.metrics["settle_s"])
        lin_err = np.linalg.norm(v_body[:, :2] - command[:, :2], axis=1)
        yaw_err = np.abs(w_body[:, 2] - command[:, 2])
        self._lin_err_sum += np.where(counted, lin_err, 0.0)
        self._yaw_err_sum += np.where(counted, yaw_err, 0.0)
        self._err_count += counted

        contact = self.engine.foot_contact()
        contact_filt = contact | self._last_contact
        self._last_contact = contact
        first_contact = (self._air_time > 0.0) & contact_filt
        self._air_time += dt
        moving = np.linalg.norm(command[:, :2], axis=1) > 0.1
        threshold = float(cfg.reward_params["feet_air_time_threshold_s"])
        air_reward = np.sum((self._air_time - threshold) * first_contact, axis=1) * moving
        self._air_time *= ~contact_filt
        joint_acc = (state.joint_vel_rad_s - self._last_joint_vel) / dt
        self._last_joint_vel = state.joint_vel_rad_s.copy()

        ctx = StepContext(
            lin_vel_body_m_s=v_body, ang_vel_body_rad_s=w_body, gravity_body=gravity, command=command,
            height_m=state.base_pos_m[:, 2], torque_sq=self.engine.joint_torque_sq_mean(),
            joint_acc_rad_s2=joint_acc, joint_pos_rad=state.joint_pos_rad,
            soft_limits_rad=self.soft_limits_rad,
            action=action, prev_action=prev_action, air_time_reward_s=air_reward,
            collisions=self.engine.leg_collisions(), fell=fell, params=cfg.reward_params,
        )
        terms = scaled_reward_terms(REWARD_TERMS, cfg.rewards, ctx)
        shaped = sum((v for k, v in terms.items() if k != "termination"), np.zeros(self.num_envs)) * dt
        if cfg.reward_params["only_positive_rewards"]:
            shaped = np.clip(shaped, 0.0, None)
        reward = shaped + terms.get("termination", 0.0)
        reward = np.where(active, reward, 0.0)
        self._episode_return += reward

        done = fell | truncated
        infos: dict[str, Any] = {
            "lin_vel_err_m_s": lin_err,
            "yaw_rate_err_rad_s": yaw_err,
            "reward_terms": {k: (v if k == "termination" else v * dt) for k, v in terms.items()},
        }
        if done.any():
            ids = np.flatnonzero(done)
            count = np.maximum(self._err_count[ids], 1)
            flown = self._err_count[ids] > 0
            infos["done_env_ids"] = ids
            infos["episode"] = {
                "episode_index": self.episode_index[ids].copy(),
                "fell": fell[ids].copy(),
                "success": ~fell[ids],
                "lin_vel_err_m_s": np.where(flown, self._lin_err_sum[ids] / count, np.nan),
                "yaw_rate_err_rad_s": np.where(flown, self._yaw_err_sum[ids] / count, np.nan),
                "return": self._episode_return[ids].copy(),
                "length": self._step_count[ids].copy(),
            }
        obs = self._autoreset(self._observe(state), done, infos)
        return obs.copy(), reward.astype(np.float32), fell, truncated, infos

    def _apply_pushes(self, active: np.ndarray) -> None:
        t = self._step_count * self.config.control_dt_s
        for i in np.flatnonzero(active):
            s = self.samples[i]
            k = self._next_push[i]
            if s is not None and k < len(s.push_times_s) and t[i] >= s.push_times_s[k]:
                vx, vy = s.push_lin_vel_m_s[k]
                self.engine.kick_base(np.array([i]), np.array([[vx, vy, 0.0]]))
                self._next_push[i] = k + 1

    def _fell(self, state: RobotState, rot: np.ndarray) -> np.ndarray:
        term = self.config.termination
        out = rot[:, 2, 2] < np.cos(np.deg2rad(float(term["max_tilt_deg"])))
        if term["trunk_contact"]:
            out |= self.engine.ground_contact()
        out |= ~state.is_finite()
        return out


ENGINES = ("mujoco", "pybullet")


def make_engine(
    name: str, params: list[QuadrupedParams], config: WalkConfig
) -> MujocoQuadrupedEngine | PybulletQuadrupedEngine:
    if name == "mujoco":
        return MujocoQuadrupedEngine(params, config.control_dt_s, config.physics_dt_s)
    if name == "pybullet":
        from sim.engines.pybullet_quadruped_engine import PybulletQuadrupedEngine

        return PybulletQuadrupedEngine(params, config.control_dt_s, config.physics_dt_s)
    raise ValueError(f"engine '{name}' has no quadruped model; quadruped-walk runs on {list(ENGINES)}")
