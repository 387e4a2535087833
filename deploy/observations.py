"""Observation terms as functions of a RobotState, and the builder that stacks them.

These functions run in training (on batches of thousands of environments) and
on the robot (on a batch of one); there is no second copy anywhere. Each
returns the raw term in SI units, shape (N, size); scaling, clipping, noise
and history come from the contract's ObservationTerm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from deploy.contract import Contract, ContractError
from deploy.robot_state import RobotState
from deploy.rotations import quat_to_rotmat

TermFunction = Callable[[RobotState, dict[str, np.ndarray]], np.ndarray]

_TERMS: dict[str, TermFunction] = {}


def observation_term(name: str) -> Callable[[TermFunction], TermFunction]:
    def register(fn: TermFunction) -> TermFunction:
        _TERMS[name] = fn
        return fn

    return register


def term_function(name: str) -> TermFunction:
    try:
        return _TERMS[name]
    except KeyError:
        raise ContractError(f"unknown observation term '{name}'; known terms: {sorted(_TERMS)}") from None


def split_command(contract: Contract, command: np.ndarray) -> dict[str, np.ndarray]:
    """Name the blocks of RobotState.command according to the contract."""
    if command.shape[-1] != contract.command_size:
        raise ContractError(
            f"command has {command.shape[-1]} values, the contract's command layout "
            f"{[(c.name, c.size) for c in contract.commands]} needs {contract.command_size}"
        )
    return {name: command[:, s] for name, s in contract.command_slices().items()}


# -- the terms ------------------------------------------------------------------


@observation_term("position_error_m")
def position_error_m(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Base position minus target position, world frame (m)."""
    return state.base_pos_m - cmd["target_pos_m"]


@observation_term("rotation_matrix")
def rotation_matrix(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Body→world rotation matrix, row-major (9 values)."""
    return quat_to_rotmat(state.base_quat_wxyz).reshape(state.num_envs, 9)


@observation_term("linear_velocity_error_m_s")
def linear_velocity_error_m_s(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Base linear velocity minus target velocity, world frame (m/s); in hover the target is 0."""
    target = cmd.get("target_vel_m_s")
    return state.base_lin_vel_m_s - (0.0 if target is None else target)


@observation_term("angular_velocity_rad_s")
def angular_velocity_rad_s(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Body angular velocity, body frame (rad/s), as a gyroscope measures it."""
    return state.base_ang_vel_rad_s


@observation_term("previous_action")
def previous_action(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """The action the policy issued at the previous control step (contract units)."""
    return state.last_action


@observation_term("position_error_integral_m_s")
def position_error_integral_m_s(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Time integral of position_error_m since the policy took over (m·s), world frame.

    A memoryless policy cannot remove a steady-state error it cannot see
    (a heavier vehicle, a weaker motor, a steady wind); the integral makes
    that error visible, as the integral path of a PID controller does. The
    ObservationBuilder accumulates it (see INTEGRATED_TERMS); this function
    returns the integrand.
    """
    return position_error_m(state, cmd)


#: Terms whose value is the running time integral of their function, kept by the
#: ObservationBuilder: zero after reset, then += value · control period each build
#: (only while ‖value‖ ≤ the term's integrate_within, when set; after decaying by
#: exp(−period/τ) when the term sets leak_time_constant_s τ), clipped to ±clip/scale
#: (anti-windup).
INTEGRATED_TERMS = frozenset({"position_error_integral_m_s"})


# -- legged terms (quadruped-walk) ---------------------------------------------------------
# Joint terms read RobotState.joint_* columns in RobotState.joint_names order; the task (and
# the robot's state assembly) fill them in the contract's action-target order.


@observation_term("projected_gravity")
def projected_gravity(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Unit gravity direction in the body frame (what an IMU's attitude gives); (0, 0, −1) upright."""
    r = quat_to_rotmat(state.base_quat_wxyz)
    return -r[:, 2, :]


@observation_term("joint_pos_rel_default_rad")
def joint_pos_rel_default_rad(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Joint positions minus the default (standing) pose, rad."""
    if state.joint_default_pos_rad.shape != state.joint_pos_rad.shape:
        raise ContractError(
            f"joint_pos_rel_default_rad needs RobotState.joint_default_pos_rad shaped like joint_pos_rad "
            f"{state.joint_pos_rad.shape}, found {state.joint_default_pos_rad.shape}; fill it with the "
            "default pose (the contract's action offsets) in joint_names order"
        )
    return state.joint_pos_rad - state.joint_default_pos_rad


@observation_term("joint_vel_rad_s")
def joint_vel_rad_s(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Joint velocities, rad/s."""
    return state.joint_vel_rad_s


@observation_term("velocity_command")
def velocity_command(state: RobotState, cmd: dict[str, np.ndarray]) -> np.ndarray:
    """Commanded body-frame velocity (vx m/s, vy m/s, yaw rate rad/s), the command term of that name."""
    return cmd["velocity_command"]


# -- end of legged terms --------------------------------------------------------------------


# -- the builder ----------------------------------------------------------------------


class NoiseSource(Protocol):
    """Simulation-only observation noise: one row of `noise_width` standard normals per
    environment and step (sim/tasks/episode_noise.py keys each row's stream to its episode)."""

    def standard_normal(self, rows: np.ndarray) -> np.ndarray: ...


class ObservationBuilder:
    """Builds contract-ordered observations for a batch, keeping per-term history and integrals.

    With a `noise` source, each term with a contract noise_std gets Gaussian noise, its std
    multiplied per environment by `noise_std_scale` (N, terms); on the robot both stay None.
    Call build() once per control step: history and integrals advance on each call.
    """

    def __init__(self, contract: Contract, num_envs: int) -> None:
        self.contract = contract
        self.num_envs = num_envs
        self._functions = [term_function(t.name) for t in contract.observations]
        self._command_slices = tuple(contract.command_slices().items())
        # Every term's history, newest first, lives in one (N, D) buffer laid out as the observation
        # (float64: the observation is cast once at the end); the per-term (N, history, size)
        # arrays are views into it.
        width = sum(t.history * t.size for t in contract.observations)
        self._stacked = np.zeros((num_envs, width))
        self._history = []
        col = 0
        for t in contract.observations:
            block = self._stacked[:, col : col + t.history * t.size]
            self._history.append(block.reshape(num_envs, t.history, t.size))
            col += t.history * t.size
        self._integral = [
            np.zeros((num_envs, t.size)) if t.name in INTEGRATED_TERMS else None
            for t in contract.observations
        ]
        for t in contract.observations:
            for option in ("integrate_within", "leak_time_constant_s"):
                if getattr(t, option) is not None and t.name not in INTEGRATED_TERMS:
                    raise ContractError(
                        f"observation term '{t.name}' sets {option}, but it is not an integrated term; "
                        f"integrated terms: {sorted(INTEGRATED_TERMS)}"
                    )
        dt = contract.control_dt_s
        #: Per-step decay of each integrated term (1.0: a pure integral).
        self._retain = [
            1.0 if t.leak_time_constant_s is None else float(np.exp(-dt / t.leak_time_constant_s))
            for t in contract.observations
        ]
        self._fresh = np.ones(num_envs, dtype=bool)
        offsets = np.cumsum([0] + [t.size if t.noise_std > 0 else 0 for t in contract.observations])
        #: Where each noisy term's noise sits in a noise row (None: the term has no noise).
        self._noise_slices = [
            slice(int(a), int(b)) if b > a else None for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        #: Standard normals one step consumes per environment (noisy terms' sizes summed).
        self.noise_width = int(offsets[-1])
        # The all-rows path (_build_all): the newest raw values side by side, per-column scale and
        # clip bounds, and where each term's newest slot and history are in the stacked buffer.
        terms = contract.observations
        self._integrated = [k for k, t in enumerate(terms) if t.name in INTEGRATED_TERMS]
        self._newest = np.zeros((num_envs, sum(t.size for t in terms)))
        self._scale_row = np.concatenate([np.full(t.size, float(t.scale)) for t in terms])
        clips = [np.inf if t.clip is None else t.clip for t in terms]
        self._low_row = np.concatenate([np.full(t.size, -c) for t, c in zip(terms, clips, strict=True)])
        self._high_row = np.concatenate([np.full(t.size, c) for t, c in zip(terms, clips, strict=True)])
        newest_cols, tile_cols, shifts = [], [], []
        col = raw = 0
        for t in terms:
            newest_cols += range(col, col + t.size)
            tile_cols += list(range(raw, raw + t.size)) * t.history
            if t.history > 1:
                shifts.append((col, col + t.history * t.size, t.size))
            col += t.history * t.size
            raw += t.size
        self._newest_columns = np.array(newest_cols, dtype=np.intp)
        self._tile_columns = np.array(tile_cols, dtype=np.intp)
        self._shifts = shifts

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Forget history and integrals; the next build fills all history slots with the current value."""
        if env_ids is None:
            self._fresh[:] = True
        else:
            self._fresh[env_ids] = True

    def raw_terms(self, state: RobotState) -> list[np.ndarray]:
        """The terms' functions (SI units), each (N, size), in contract order (integrands for
        integrated terms)."""
        command = state.command
        if command.shape[-1] == self.contract.command_size:
            cmd = {name: command[:, s] for name, s in self._command_slices}
        else:
            cmd = split_command(self.contract, command)  # raises, naming the layout
        n = state.num_envs
        out = []
        for term, fn in zip(self.contract.observations, self._functions, strict=True):
            value = fn(state, cmd)
            if type(value) is not np.ndarray or value.dtype != np.float64 or value.shape != (n, term.size):
                value = np.asarray(value, dtype=np.float64).reshape(n, -1)
            if value.shape[1] != term.size:
                raise ContractError(
                    f"observation term '{term.name}' produced {value.shape[1]} values, "
                    f"the contract says {term.size}"
                )
            out.append(value)
        return out

    def build(
        self,
        state: RobotState,
        noise: NoiseSource | None = None,
        noise_std_scale: np.ndarray | None = None,
        env_ids: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Observation (N, contract.observation_size), float32.

        With `env_ids`, only those environments advance (history, integrals);
        the other rows repeat their last observation. With `out` ((N, D) float32, e.g. a bound
        inference input), the observation is written there and `out` is returned.
        """
        if state.num_envs != self.num_envs:
            raise ValueError(f"state has {state.num_envs} environments, builder has {self.num_envs}")
        if env_ids is None and noise is None:
            return self._build_all(state, out)
        rows = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64)
        fresh = self._fresh[rows]
        dt = self.contract.control_dt_s
        draws = noise.standard_normal(rows) if noise is not None and self.noise_width else None
        parts = []
        for k, (term, value) in enumerate(
            zip(self.contract.observations, self.raw_terms(state), strict=True)
        ):
            value = value[rows]
            integral = self._integral[k]
            if integral is not None:
                limit = np.inf if term.clip is None else term.clip / abs(term.scale)
                step = value * dt
                if term.integrate_within is not None:
                    near = np.linalg.norm(value, axis=1, keepdims=True) <= term.integrate_within
                    step = np.where(near, step, 0.0)
                acc = np.where(fresh[:, None], 0.0, self._retain[k] * integral[rows] + step)
                value = integral[rows] = np.clip(acc, -limit, limit)
            if draws is not None and self._noise_slices[k] is not None:
                std = term.noise_std
                if noise_std_scale is not None:
                    std = std * noise_std_scale[rows, k : k + 1]
                value = value + draws[:, self._noise_slices[k]] * std
            value = value * term.scale
            if term.clip is not None:
                value = np.clip(value, -term.clip, term.clip)
            hist = self._history[k]
            if term.history > 1:
                hist[rows, 1:] = hist[rows, :-1]
            hist[rows, 0] = value
            if fresh.any():
                hist[rows[fresh]] = value[fresh][:, None, :]
            parts.append(hist.reshape(self.num_envs, -1))
        self._fresh[rows] = False
        obs = np.concatenate(parts, axis=1).astype(np.float32)
        if out is None:
            return obs
        out[...] = obs
        return out

    def _build_all(self, state: RobotState, out: np.ndarray | None) -> np.ndarray:
        """build() for every environment without noise (the robot's path): the same arithmetic in
        the same order (bit-identical), done on all terms at once where it is elementwise (scale,
        clip), with the history shifted in place and the observation written into `out`."""
        n = self.num_envs
        if out is None:
            out = np.empty((n, self.contract.observation_size), dtype=np.float32)
        fresh = self._fresh
        any_fresh = bool(fresh.any())
        values = self.raw_terms(state)
        dt = self.contract.control_dt_s
        for k in self._integrated:
            term, value, integral = self.contract.observations[k], values[k], self._integral[k]
            assert integral is not None
            limit = np.inf if term.clip is None else term.clip / abs(term.scale)
            step = value * dt
            if term.integrate_within is not None:
                near = np.linalg.norm(value, axis=1, keepdims=True) <= term.integrate_within
                step = np.where(near, step, 0.0)
            acc = np.where(fresh[:, None], 0.0, self._retain[k] * integral + step)
            values[k] = integral[...] = np.clip(acc, -limit, limit)
        newest = np.concatenate(values, axis=1, out=self._newest)
        # value · scale, then clipped to ±clip: np.clip's min(max(·)) per element, ±inf where unclipped
        np.multiply(newest, self._scale_row, out=newest)
        np.minimum(np.maximum(newest, self._low_row, out=newest), self._high_row, out=newest)
        stacked = self._stacked
        for a, b, size in self._shifts:  # terms with history: older slots move one place back
            stacked[:, a + size : b] = stacked[:, a : b - size]
        stacked[:, self._newest_columns] = newest
        if any_fresh:  # fresh rows: every history slot holds the newest value
            stacked[fresh] = newest[fresh][:, self._tile_columns]
            fresh[:] = False
        out[...] = stacked
        return out
