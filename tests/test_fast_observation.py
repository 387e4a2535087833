"""The robot's batch-of-one fast paths give the shared code's numbers.

deploy.runtime.fast_observation computes the contract observation on floats; it must equal
deploy.observations.ObservationBuilder (the code training uses) on every state, history and
integral terms included. The in-place state assembly, the limit checker and the float limiter
are checked against the code they replace the same way.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from deploy.contract import Contract, ContractError
from deploy.observations import ObservationBuilder
from deploy.policy_file import PolicyFile
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle
from deploy.runtime.command_limiter import CommandLimiter
from deploy.runtime.fast_observation import BatchOneObservation
from deploy.runtime.input_store import Command, Imu, JointStates, Odometry, Sample
from deploy.runtime.limits import LimitChecker, limit_faults
from deploy.runtime.robot_profile import Limits, RobotProfile
from deploy.runtime.state_assembly import StateAssembler
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import SHIPPED_POLICY

WALK_POLICY = SHIPPED_POLICY.parent / "quadruped_walk.onnx"


def hover_contract() -> Contract:
    return HoverConfig.from_yaml().contract()


def walk_contract() -> Contract:
    return PolicyFile(WALK_POLICY).contract


def _with_integral_options(contract: Contract, within: float | None, tau: float | None) -> Contract:
    terms = tuple(
        dataclasses.replace(t, integrate_within=within, leak_time_constant_s=tau)
        if t.name == "position_error_integral_m_s"
        else t
        for t in contract.observations
    )
    return dataclasses.replace(contract, observations=terms)


def _unit_quat(rng: np.random.Generator) -> np.ndarray:
    q = rng.standard_normal(4)
    return q / np.linalg.norm(q)


def random_state(rng: np.random.Generator, contract: Contract, spread: float) -> RobotState:
    """A batch-of-one state; `spread` scales everything (large values reach every clip)."""
    j, a, c = len(contract.joints), contract.action_size, contract.command_size
    quat = _unit_quat(rng) * rng.uniform(0.95, 1.05) if rng.random() < 0.9 else np.zeros(4)
    return RobotState(
        base_pos_m=rng.standard_normal((1, 3)) * spread,
        base_quat_wxyz=quat.reshape(1, 4),
        base_lin_vel_m_s=rng.standard_normal((1, 3)) * spread,
        base_ang_vel_rad_s=rng.standard_normal((1, 3)) * spread * 5,
        last_action=rng.uniform(-1.0, 1.0, (1, a)) * (1 + spread),
        command=rng.standard_normal((1, c)) * spread,
        joint_names=tuple(jd.name for jd in contract.joints),
        joint_pos_rad=rng.standard_normal((1, j)) * spread,
        joint_vel_rad_s=rng.standard_normal((1, j)) * spread * 20,
        time_s=np.zeros(1),
        joint_default_pos_rad=rng.standard_normal((1, j)),
    )


CONTRACTS = {
    "hover": hover_contract,
    "walk": walk_contract,
    "hover, integral within 0.5 m, leaky": lambda: _with_integral_options(hover_contract(), 0.5, 2.0),
    "hover, integral within 1 m": lambda: _with_integral_options(hover_contract(), 1.0, None),
}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_fast_observation_equals_the_shared_builder(name):
    contract = CONTRACTS[name]()
    assert BatchOneObservation.supports(contract)
    rng = np.random.default_rng(len(name))
    shared, fast = ObservationBuilder(contract, 1), BatchOneObservation(contract)
    out = np.zeros((1, contract.observation_size), dtype=np.float32)
    clipped = 0
    for k in range(4000):
        if k % 700 == 0:  # re-arm: history and integral start over
            shared.reset()
            fast.reset()
        # mostly calm, sometimes wild (clips, the integral's anti-windup, integrate_within)
        spread = [0.1, 1.0, 30.0][int(rng.integers(3))]
        state = random_state(rng, contract, spread)
        expected = shared.build(state)
        got = fast.build(state, out=out)
        assert got is out
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(got, expected)  # in fact bit for bit: same operations, same order
        clipped += int(np.any(np.abs(expected) >= 1.0))
    assert clipped > 100  # the clips were exercised


def test_fast_observation_history_and_integral_are_those_of_the_builder():
    """A slow, deterministic walk through states: each history slot and the integral agree."""
    contract = hover_contract()
    rng = np.random.default_rng(7)
    shared, fast = ObservationBuilder(contract, 1), BatchOneObservation(contract)
    state = random_state(rng, contract, 0.3)
    for _ in range(40):
        state.last_action[:] = rng.uniform(-1, 1, state.last_action.shape)
        state.base_pos_m += 0.01
        a, b = shared.build(state), fast.build(state)
        np.testing.assert_array_equal(a, b)
    names = [t.name for t in contract.observations]
    assert "position_error_integral_m_s" in names
    assert max(t.history for t in contract.observations) == 16


def test_fast_observation_refuses_what_the_builder_refuses():
    contract = hover_contract()
    fast = BatchOneObservation(contract)
    state = random_state(np.random.default_rng(0), contract, 1.0)
    bad = dataclasses.replace(state, command=np.zeros((1, contract.command_size + 1)))
    with pytest.raises(ContractError, match="command"):
        ObservationBuilder(contract, 1).build(bad)
    with pytest.raises(ContractError, match="command"):
        fast.build(bad)
    two = dataclasses.replace(state, base_pos_m=np.zeros((2, 3)))
    with pytest.raises(ValueError):
        fast.build(two)


def test_unknown_terms_use_the_shared_builder():
    contract = hover_contract()
    no_target = dataclasses.replace(contract, commands=())
    assert not BatchOneObservation.supports(no_target)  # position_error_m needs target_pos_m


def test_fast_observation_beyond_float32_range_gives_what_the_builder_gives():
    contract = dataclasses.replace(
        hover_contract(),
        observations=tuple(dataclasses.replace(t, clip=None) for t in hover_contract().observations),
    )
    state = random_state(np.random.default_rng(1), contract, 1.0)
    state.base_pos_m[0, 0] = 1e300
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(
            BatchOneObservation(contract).build(state), ObservationBuilder(contract, 1).build(state)
        )


# -- the rest of the cycle's fast paths ----------------------------------------------------------


def _profile(kind: str) -> RobotProfile:
    from deploy.runtime.robot_profile import PROFILE_DIR

    name = "profile_crazyflie_2_1.yaml" if kind == "hover" else "profile_go2.yaml"
    return RobotProfile.from_yaml(PROFILE_DIR / name)


def _samples(rng: np.random.Generator, contract: Contract, joints: tuple[str, ...]) -> dict[str, Sample]:
    out: dict[str, Sample] = {}
    if rng.random() < 0.9:
        odo = Odometry(
            rng.standard_normal(3), _unit_quat(rng), rng.standard_normal(3), rng.standard_normal(3)
        )
        out["odometry"] = Sample(odo.checked(), float(rng.uniform(0, 1)))
    if rng.random() < 0.9:
        out["imu"] = Sample(Imu(_unit_quat(rng), rng.standard_normal(3)).checked(), float(rng.uniform(0, 1)))
    if rng.random() < 0.9:
        size = contract.command_size + (1 if rng.random() < 0.1 else 0)
        out["command"] = Sample(Command(rng.standard_normal(size)).checked(), 0.0)
    if joints and rng.random() < 0.9:
        names = list(joints) + (["extra_joint"] if rng.random() < 0.3 else [])
        if rng.random() < 0.1:
            names = names[1:]  # one missing
        order = rng.permutation(len(names)) if rng.random() < 0.5 else np.arange(len(names))
        names = tuple(names[k] for k in order)
        js = JointStates(names, rng.standard_normal(len(names)), rng.standard_normal(len(names)))
        out["joint_states"] = Sample(js.checked(), float(rng.uniform(0, 1)))
    return out


@pytest.mark.parametrize("kind", ["hover", "walk"])
def test_in_place_state_assembly_equals_fresh_assembly(kind):
    contract = hover_contract() if kind == "hover" else walk_contract()
    profile = _profile(kind)
    fresh, in_place = StateAssembler(contract, profile), StateAssembler(contract, profile, reuse=True)
    rng = np.random.default_rng(3)
    first = None
    for _ in range(1500):
        samples = _samples(rng, contract, fresh.joints)
        now = float(rng.uniform(1, 2))
        last = rng.uniform(-1, 1, contract.action_size)
        a, b = fresh.assemble(samples, now, last), in_place.assemble(samples, now, last)
        assert (a.base_age_s, a.problem, a.finite) == (b.base_age_s, b.problem, b.finite)
        assert (a.state is None) == (b.state is None)
        if a.state is None:
            continue
        first = first or b.state
        assert b.state is first  # the same arrays every cycle: nothing allocated
        for f in dataclasses.fields(RobotState):
            x, y = getattr(a.state, f.name), getattr(b.state, f.name)
            if isinstance(x, np.ndarray):
                assert x.shape == y.shape, f.name
                np.testing.assert_array_equal(x, y, err_msg=f.name)
            else:
                assert x == y, f.name


def _limits_cases(rng: np.random.Generator, names: tuple[str, ...], limits: Limits):
    for _ in range(3000):
        tilt = rng.uniform(0.0, 2 * (limits.max_tilt_deg or 45.0))
        if rng.random() < 0.2 and limits.max_tilt_deg is not None:  # right at the limit
            tilt = limits.max_tilt_deg + rng.choice([-1e-9, 0.0, 1e-9, -1e-4, 1e-4])
        axis = np.array([*rng.standard_normal(2), 0.0])
        q = quat_from_axis_angle(axis, np.deg2rad(tilt)) * rng.uniform(0.95, 1.05)
        q = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), rng.uniform(-3, 3)) if rng.random() < 0.05 else q
        pos = rng.standard_normal(3) * 5
        joints = rng.standard_normal(len(names)) * 2
        if names and rng.random() < 0.1:
            joints[int(rng.integers(len(names)))] = np.nan
        yield RobotState(
            base_pos_m=pos.reshape(1, 3),
            base_quat_wxyz=np.asarray(q).reshape(1, 4),
            base_lin_vel_m_s=np.zeros((1, 3)),
            base_ang_vel_rad_s=np.zeros((1, 3)),
            last_action=np.zeros((1, 1)),
            command=np.zeros((1, 0)),
            joint_names=names,
            joint_pos_rad=joints.reshape(1, -1),
        )


@pytest.mark.parametrize("kind", ["hover", "walk"])
def test_limit_checker_equals_limit_faults(kind):
    profile = _profile(kind)
    names = tuple(j.name for j in walk_contract().joints) if kind == "walk" else ()
    limits = profile.limits
    if kind == "walk":  # exercise every check
        limits = dataclasses.replace(limits, max_tilt_deg=limits.max_tilt_deg or 50.0)
    checker = LimitChecker(limits)
    rng = np.random.default_rng(5)
    seen = set()
    for state in _limits_cases(rng, names, limits):
        expected = limit_faults(state, limits)
        assert checker.faults(state) == expected
        seen |= {f.fault for f in expected}
    assert len(seen) >= 2  # both sides of the limits were reached


@pytest.mark.parametrize("actions", [4, 12])
def test_limit_values_equals_limit(actions):
    contract = hover_contract() if actions == 4 else walk_contract()
    rates = {t.name: 5.0 for t in contract.actions}
    a, b = CommandLimiter(contract, rates, 0.01), CommandLimiter(contract, rates, 0.01)
    rng = np.random.default_rng(actions)
    for _ in range(3000):
        x = rng.standard_normal(actions) * rng.choice([0.01, 1.0, 100.0])
        if rng.random() < 0.1:
            x[int(rng.integers(actions))] = rng.choice([np.nan, np.inf, -np.inf])
        expected = a.limit(x)
        got = b.limit_values(x.tolist())
        assert got == expected.tolist()
        assert all(math.isfinite(v) for v in got)
        np.testing.assert_array_equal(a.previous_view, b.previous_view)


def test_a_term_registered_anew_under_a_known_name_uses_the_shared_builder(monkeypatch):
    from deploy import observations

    contract = hover_contract()
    assert BatchOneObservation.supports(contract)
    monkeypatch.setitem(observations._TERMS, "rotation_matrix", lambda state, cmd: state.base_quat_wxyz)
    assert not BatchOneObservation.supports(contract)
