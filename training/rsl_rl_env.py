"""rsl_rl VecEnv adapter around the quadrotor hover task.

The shared adapter (training/rsl_rl_task_env.py: TensorDict packing,
time-outs, episode logs, the moving window of finished episodes) with the
hover task's privileged "critic" group: the randomized vehicle parameters of each
environment, which the critic may use in simulation (asymmetric actor-critic)
but the actor never sees, since no robot can measure them.

Observation groups (each (N, size) float32 on the CPU):
  "policy": the contract observation, exactly what the exported policy gets.
  "critic": the privileged state only: the episode's vehicle (PRIVILEGED_TERMS)
            followed by the actuator state (rotor speeds and the actions already
            issued but still in the delay queue, QuadrotorHoverEnv.actuator_state);
            the runner's obs_groups give the critic "policy" + "critic".

Why the actuator state: the rotors lag the command by 5-8 control steps and
the action delay adds up to 2 more, so the value of a state depends on what the
motors are about to do. Every working quadrotor recipe lets the critic see it
(Learning to Fly: rotor speeds; RAPTOR's teachers: rotor speeds).
"""

from __future__ import annotations

import numpy as np

from sim.randomization.quadrotor import EpisodeSample
from sim.robots.quadrotor import QuadrotorParams
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from training.rsl_rl_task_env import RslRlTaskEnv

#: Privileged terms, in order. Ratios are (sampled / nominal − 1), so the
#: nominal vehicle is all zeros; disturbances are accelerations (force / mass,
#: torque / inertia per axis), in m/s² and rad/s², world frame.
PRIVILEGED_TERMS: tuple[tuple[str, int], ...] = (
    ("mass_ratio", 1),
    ("inertia_ratio", 3),
    ("arm_length_ratio", 1),
    ("thrust_to_weight_ratio", 1),
    ("motor_time_constant_rise_ratio", 1),
    ("motor_time_constant_fall_ratio", 1),
    ("torque_to_thrust_ratio", 1),
    ("action_delay_steps", 1),
    ("disturbance_accel_m_s2", 3),
    ("disturbance_ang_accel_rad_s2", 3),
)
PRIVILEGED_SIZE = sum(size for _, size in PRIVILEGED_TERMS)


def critic_group_size(env: QuadrotorHoverEnv) -> int:
    """Size of the "critic" group: vehicle terms + rotor speeds + pending delayed actions."""
    a = env.contract.action_size
    return PRIVILEGED_SIZE + env.nominal.num_motors + env.max_delay * a


def privileged_state(sample: EpisodeSample, nominal: QuadrotorParams) -> np.ndarray:
    """The privileged vector (PRIVILEGED_SIZE,) of one episode's sampled vehicle."""
    p = sample.params
    inertia = np.asarray(p.inertia_kg_m2)
    out = np.concatenate([
        [p.mass_kg / nominal.mass_kg - 1.0],
        inertia / np.asarray(nominal.inertia_kg_m2) - 1.0,
        [p.arm_length_m / nominal.arm_length_m - 1.0],
        [p.thrust_to_weight / nominal.thrust_to_weight - 1.0],
        [p.motor_time_constant_rise_s / nominal.motor_time_constant_rise_s - 1.0],
        [p.motor_time_constant_fall_s / nominal.motor_time_constant_fall_s - 1.0],
        [p.torque_to_thrust_m / nominal.torque_to_thrust_m - 1.0],
        [float(sample.action_delay_steps)],
        np.asarray(sample.force_world_n) / p.mass_kg,
        np.asarray(sample.torque_world_nm) / inertia,
    ])
    return out


class RslRlHoverEnv(RslRlTaskEnv):
    """QuadrotorHoverEnv as an rsl_rl VecEnv (training.rsl_rl_task_env.RslRlTaskEnv).

    extras["log"] carries per-episode success, crash, final position error and
    return of the episodes that ended in that step; recent_episodes() reports
    the final position error (m) of the episodes that did not crash.
    """

    env: QuadrotorHoverEnv

    def __init__(
        self, env: QuadrotorHoverEnv, seed: int = 0, first_episode: int = 0, stats_window: int = 200
    ) -> None:
        self._privileged = np.zeros((env.num_envs, PRIVILEGED_SIZE), dtype=np.float32)
        super().__init__(env, seed=seed, first_episode=first_episode, stats_window=stats_window)

    def _episodes_started(self, env_ids: np.ndarray) -> None:
        for i in env_ids:
            self._privileged[i] = privileged_state(self.env.samples[i], self.env.nominal)

    def _privileged_observation(self) -> np.ndarray:
        rotors, pending = self.env.actuator_state()
        return np.concatenate(
            [self._privileged, rotors, pending.reshape(self.num_envs, -1)], axis=1
        ).astype(np.float32)

    def _episode_errors(
        self, episode: dict[str, np.ndarray], failed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        err = episode["final_pos_err_m"].astype(np.float32)
        # A crashed episode has no meaningful final error (its window may hold inf).
        extra = {"Episode/final_pos_err_m": err[failed == 0]} if (failed == 0).any() else {}
        return err, extra
