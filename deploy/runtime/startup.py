"""STARTING: what the runtime commands between arming and handing over to the policy.

Quadrotor: motors at the idle command for idle_s, then a linear ramp to the
nominal hover command over spinup_s. A collective thrust + body rate (ctbr)
policy: the same ramp on the collective thrust (idle_command, then the thrust
that carries the nominal vehicle), with zero body rates. Legged: joint targets interpolated from
the measured pose at arming to the profile's default pose over stand_up_s,
with the profile's stand gains. A zero-length sequence hands over on the
first cycle (a simulator that starts the vehicle in the air uses that).
"""

from __future__ import annotations

import numpy as np

from deploy.actions import actuator_to_action
from deploy.contract import Contract
from deploy.rate_controller import hover_collective_thrust
from deploy.robot_state import RobotState
from deploy.runtime.robot_profile import RobotProfile


class QuadrotorStartup:
    def __init__(self, contract: Contract, profile: RobotProfile) -> None:
        assert profile.quadrotor is not None
        q = profile.quadrotor
        a = contract.action_size
        self.idle_s, self.spinup_s = q.starting.idle_s, q.starting.spinup_s
        if contract.action_mode == "ctbr":
            idle = np.array([q.starting.idle_command, 0.0, 0.0, 0.0])
            hover = np.array([hover_collective_thrust(q.params), 0.0, 0.0, 0.0])
        else:
            idle, hover = np.full(a, q.starting.idle_command), np.full(a, q.params.hover_command)
        self.idle_action = actuator_to_action(contract, idle)
        self.hover_action = actuator_to_action(contract, hover)
        self.kp = self.kd = None
        self._t0 = 0.0

    @property
    def duration_s(self) -> float:
        return self.idle_s + self.spinup_s

    def start(self, now_s: float, state: RobotState | None) -> None:
        self._t0 = now_s

    def done(self, now_s: float) -> bool:
        return now_s - self._t0 >= self.duration_s - 1e-9

    def act(self, now_s: float, state: RobotState | None) -> np.ndarray:
        t = now_s - self._t0
        if t < self.idle_s:
            return self.idle_action.copy()
        alpha = min(1.0, (t - self.idle_s) / self.spinup_s) if self.spinup_s > 0 else 1.0
        return self.idle_action + alpha * (self.hover_action - self.idle_action)


class LeggedStartup:
    def __init__(self, contract: Contract, profile: RobotProfile) -> None:
        assert profile.legged is not None
        g = profile.legged
        self.contract = contract
        self.names = contract.action_target_names
        self.default_pose = np.array([g.default_pose_rad[n] for n in self.names])
        self.duration_s = g.stand_up_s
        self.kp = np.full(len(self.names), g.stand_kp)
        self.kd = np.full(len(self.names), g.stand_kd)
        self._from = self.default_pose.copy()
        self._t0 = 0.0

    def start(self, now_s: float, state: RobotState | None) -> None:
        self._t0 = now_s
        self._from = measured_joints(state, self.names, fallback=self.default_pose)

    def done(self, now_s: float) -> bool:
        return now_s - self._t0 >= self.duration_s - 1e-9

    def act(self, now_s: float, state: RobotState | None) -> np.ndarray:
        alpha = min(1.0, (now_s - self._t0) / self.duration_s) if self.duration_s > 0 else 1.0
        target = self._from + alpha * (self.default_pose - self._from)
        return actuator_to_action(self.contract, target)


def measured_joints(state: RobotState | None, names: tuple[str, ...], fallback: np.ndarray) -> np.ndarray:
    """Measured positions of `names` (by name) from a batch-of-one state; `fallback` where unknown."""
    out = np.asarray(fallback, dtype=np.float64).copy()
    if state is None or not state.joint_names:
        return out
    index = {n: i for i, n in enumerate(state.joint_names)}
    for k, n in enumerate(names):
        if n in index:
            v = state.joint_pos_rad[0, index[n]]
            if np.isfinite(v):
                out[k] = v
    return out
