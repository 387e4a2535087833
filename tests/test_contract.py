"""The policy contract: layout, JSON round trip, hash, and mismatch messages."""

import dataclasses
import json

import numpy as np
import pytest

from deploy.contract import (
    ActionTerm,
    CommandTerm,
    Contract,
    ContractError,
    JointDrive,
    ObservationTerm,
    describe_difference,
)
from deploy.observations import ObservationBuilder
from deploy.robot_state import RobotState
from sim.tasks.episode_noise import EpisodeNoise
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv
from tests.conftest import make_state


@pytest.fixture
def contract() -> Contract:
    return HoverConfig.from_yaml().contract()


def test_layout_matches_the_task(contract):
    names = [t.name for t in contract.observations]
    assert names == [
        "position_error_m",
        "rotation_matrix",
        "linear_velocity_error_m_s",
        "angular_velocity_rad_s",
        "previous_action",
        "position_error_integral_m_s",
    ]
    assert contract.observation_size == 3 + 9 + 3 + 3 + 16 * 4 + 3 == 85  # 16 past actions
    assert contract.action_size == 4
    assert contract.action_target_names == ("motor_0", "motor_1", "motor_2", "motor_3")
    slices = contract.observation_slices()
    assert slices["rotation_matrix"] == slice(3, 12) and slices["previous_action"] == slice(18, 82)


def test_environment_observation_follows_the_contract(contract):
    env = QuadrotorHoverEnv(4, seed=0)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, contract.observation_size) and obs.dtype == np.float32
        state = env.robot_state()
        sl = contract.observation_slices()
        # no randomization → no noise: the position error block is exactly pos − target
        assert np.allclose(obs[:, sl["position_error_m"]], state.base_pos_m - state.command[:, :3], atol=1e-6)
        rot = obs[:, sl["rotation_matrix"]].reshape(4, 3, 3)
        assert np.allclose(np.einsum("nij,nkj->nik", rot, rot), np.eye(3), atol=1e-5)
    finally:
        env.close()


def test_json_round_trip_and_stable_hash(contract):
    again = Contract.from_json(contract.to_json())
    assert again == contract
    assert again.sha256() == contract.sha256()
    assert len(contract.sha256()) == 64


def test_hash_changes_when_a_term_changes(contract):
    terms = list(contract.observations)
    terms[0] = dataclasses.replace(terms[0], scale=2.0)
    changed = dataclasses.replace(contract, observations=tuple(terms))
    assert changed.sha256() != contract.sha256()
    assert any("observations" in d for d in describe_difference(contract, changed))
    faster = dataclasses.replace(contract, control_rate_hz=200.0)
    assert faster.sha256() != contract.sha256()
    assert describe_difference(contract, faster) == ["control_rate_hz: expected 100.0, found 200.0"]


def test_malformed_contracts_are_refused():
    with pytest.raises(ContractError, match="not valid JSON"):
        Contract.from_json("{nope")
    with pytest.raises(ContractError, match="malformed"):
        Contract.from_json('{"task": "x"}')
    with pytest.raises(ContractError, match="duplicate"):
        Contract("t", "r", 100.0, (ObservationTerm("a", 1), ObservationTerm("a", 2)), ())


def test_joint_drives_round_trip_and_are_validated():
    joints = (JointDrive("hip", 0.1, 20.0, 0.5, 23.7), JointDrive("knee", -1.5, 20.0, 0.5, 45.4))
    action = ActionTerm("position_target", ("hip", "knee"), scale=0.25)
    c = Contract("t", "r", 50.0, (ObservationTerm("a", 2),), (action,), joints=joints)
    again = Contract.from_json(c.to_json())
    assert again == c and again.joint_default_pos_rad == (0.1, -1.5)
    assert (
        again.sha256()
        != dataclasses.replace(c, joints=joints[:1] + (JointDrive("knee", -1.5, 25.0, 0.5, 45.4),)).sha256()
    )
    with pytest.raises(ContractError, match="appear twice"):
        Contract("t", "r", 50.0, (), (action,), joints=(joints[0], joints[0], joints[1]))
    with pytest.raises(ContractError, match="torque_limit_nm > 0"):
        Contract("t", "r", 50.0, (), (action,), joints=(joints[0], JointDrive("knee", 0.0, 20.0, 0.5, 0.0)))
    with pytest.raises(ContractError, match=r"\['knee'\] have no joint drive"):
        Contract("t", "r", 50.0, (), (action,), joints=joints[:1])


def test_history_noise_and_clip():
    c = Contract(
        "t",
        "r",
        50.0,
        (ObservationTerm("angular_velocity_rad_s", 3, scale=0.5, clip=1.0, history=3, noise_std=0.1),),
        (),
    )
    b = ObservationBuilder(c, 2)
    s = make_state(2, omega=(1.0, 10.0, -1.0))
    first = b.build(s)
    assert first.shape == (2, 9)
    assert np.allclose(first[0, :3], [0.5, 1.0, -0.5])  # scaled, then clipped at 1
    assert np.allclose(first[:, 3:6], first[:, :3]) and np.allclose(first[:, 6:], first[:, :3])
    s2 = make_state(2, omega=(0.0, 0.0, 0.0))
    second = b.build(s2)
    assert np.allclose(second[:, :3], 0.0) and np.allclose(second[:, 3:6], first[:, :3])
    noise = EpisodeNoise(2, b.noise_width)
    noise.start(np.array([0, 1]), seed=0, episode_indices=np.array([0, 1]))
    noisy = b.build(s2, noise=noise)
    assert b.noise_width == 3
    expected = EpisodeNoise.stream(0, 1).standard_normal(3) * 0.1 * 0.5  # std, then the term's scale
    assert np.allclose(noisy[1, :3], expected)
    b.reset(np.array([1]))
    third = b.build(make_state(2, omega=(0.2, 0.2, 0.2)))
    assert np.allclose(third[1, 3:6], third[1, :3])  # env 1's history restarted
    assert np.allclose(third[0, 3:6], noisy[0, :3])


def _integral_contract(
    clip: float | None = 1.0, integrate_within: float | None = None, leak_s: float | None = None
) -> Contract:
    return Contract(
        task="t",
        robot="r",
        control_rate_hz=100.0,
        observations=(
            ObservationTerm("position_error_m", 3),
            ObservationTerm(
                "position_error_integral_m_s", 3, scale=2.0, clip=clip, integrate_within=integrate_within,
                leak_time_constant_s=leak_s,
            ),
        ),
        actions=(),
        commands=(CommandTerm("target_pos_m", 3), CommandTerm("target_vel_m_s", 3)),
    )


def _state_at(pos_m: list[list[float]]) -> RobotState:
    n = len(pos_m)
    state = make_state(n, command_size=6)
    state.base_pos_m = np.asarray(pos_m, dtype=float)
    return state


def test_integral_term_starts_at_zero_and_accumulates_error_times_period():
    builder = ObservationBuilder(_integral_contract(clip=None), 2)
    state = _state_at([[0.1, 0.0, -0.2], [0.0, 0.0, 0.0]])
    first = builder.build(state)
    np.testing.assert_allclose(first[:, 3:], 0.0)
    for k in range(1, 4):
        obs = builder.build(state)
        # scale 2: observed = 2 · Σ e · dt
        np.testing.assert_allclose(obs[0, 3:], 2.0 * k * np.array([0.1, 0.0, -0.2]) * 0.01, rtol=1e-6)
        np.testing.assert_allclose(obs[1, 3:], 0.0)


def test_integral_term_is_clipped_to_prevent_windup_and_resets_per_environment():
    builder = ObservationBuilder(_integral_contract(clip=1.0), 2)
    state = _state_at([[5.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    for _ in range(200):  # 5 m · 2 s = 10 m·s unclipped
        obs = builder.build(state)
    np.testing.assert_allclose(obs[:, 3], 1.0)  # clip 1.0 on the scaled value: 0.5 m·s internally
    builder.reset(np.array([1]))
    obs = builder.build(_state_at([[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))
    assert obs[1, 3] == 0.0  # fresh environment starts again from zero
    # the saturated one unwinds at once, it did not keep accumulating beyond the clip
    np.testing.assert_allclose(obs[0, 3], 2.0 * (0.5 - 0.01), rtol=1e-6)


def test_conditional_integral_advances_only_near_the_target():
    builder = ObservationBuilder(_integral_contract(clip=None, integrate_within=0.1), 2)
    far, near = [0.3, 0.0, 0.0], [0.06, 0.0, -0.08]  # ‖near‖ = 0.1: on the radius still integrates
    builder.build(_state_at([far, near]))
    for _ in range(3):
        obs = builder.build(_state_at([far, near]))
    np.testing.assert_allclose(obs[0, 3:], 0.0)  # 30 cm off: no wind-up
    np.testing.assert_allclose(obs[1, 3:], 2.0 * 3 * np.array(near) * 0.01, rtol=1e-6)
    obs = builder.build(_state_at([near, far]))  # env 0 arrives, env 1 leaves: env 1 holds its value
    np.testing.assert_allclose(obs[0, 3:], 2.0 * np.array(near) * 0.01, rtol=1e-6)
    np.testing.assert_allclose(obs[1, 3:], 2.0 * 3 * np.array(near) * 0.01, rtol=1e-6)


def test_integrate_within_is_validated_and_omitted_from_the_json_when_unset():
    with pytest.raises(ContractError, match="integrate_within"):
        _integral_contract(integrate_within=0.0)
    with pytest.raises(ContractError, match="integrate_within"):
        _integral_contract(integrate_within=float("nan"))
    assert "integrate_within" not in _integral_contract().to_json()  # earlier files hash as before
    c = _integral_contract(integrate_within=0.1)
    assert Contract.from_json(c.to_json()) == c
    wrong = Contract(
        task="t", robot="r", control_rate_hz=100.0,
        observations=(ObservationTerm("position_error_m", 3, integrate_within=0.1),), actions=(),
        commands=(CommandTerm("target_pos_m", 3), CommandTerm("target_vel_m_s", 3)),
    )  # fmt: skip
    with pytest.raises(ContractError, match="not an integrated term"):
        ObservationBuilder(wrong, 1)


def test_leaky_integral_settles_at_tau_times_a_steady_error_and_forgets_a_transient():
    tau_s, dt = 0.5, 0.01
    builder = ObservationBuilder(_integral_contract(clip=None, leak_s=tau_s), 1)
    builder.build(_state_at([[0.0, 0.0, 0.0]]))
    for _ in range(100):  # a 1 m transient for 1 s
        obs = builder.build(_state_at([[1.0, 0.0, 0.0]]))
    after_transient = obs[0, 3] / 2.0
    for _ in range(1000):  # then a steady 2 cm error for 10 s = 20 τ (the transient: × e^−20)
        obs = builder.build(_state_at([[0.02, 0.0, 0.0]]))
    # discrete steady state: e·dt / (1 − exp(−dt/τ)) ≈ τ·e (1 % above it at dt = τ/50)
    steady = 0.02 * dt / (1.0 - np.exp(-dt / tau_s))
    np.testing.assert_allclose(obs[0, 3] / 2.0, steady, rtol=1e-4)
    assert steady == pytest.approx(tau_s * 0.02, rel=0.02)
    assert after_transient > 0.4  # the transient had wound it up to ~τ·1 m ...
    pure = ObservationBuilder(_integral_contract(clip=None), 1)  # ... a pure integral keeps it
    pure.build(_state_at([[0.0, 0.0, 0.0]]))
    for _ in range(100):
        pure.build(_state_at([[1.0, 0.0, 0.0]]))
    for _ in range(500):
        kept = pure.build(_state_at([[0.02, 0.0, 0.0]]))
    assert kept[0, 3] / 2.0 > 1.0


def test_leak_time_constant_is_validated_and_omitted_from_the_json_when_unset():
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ContractError, match="leak_time_constant_s"):
            _integral_contract(leak_s=bad)
    assert "leak_time_constant_s" not in _integral_contract().to_json()
    c = _integral_contract(leak_s=1.0)
    assert Contract.from_json(c.to_json()) == c
    wrong = Contract(
        task="t", robot="r", control_rate_hz=100.0,
        observations=(ObservationTerm("position_error_m", 3, leak_time_constant_s=1.0),), actions=(),
        commands=(CommandTerm("target_pos_m", 3), CommandTerm("target_vel_m_s", 3)),
    )  # fmt: skip
    with pytest.raises(ContractError, match="not an integrated term"):
        ObservationBuilder(wrong, 1)


def test_building_a_subset_advances_only_those_environments():
    builder = ObservationBuilder(_integral_contract(clip=None), 2)
    state = _state_at([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    builder.build(state)
    builder.build(state)
    obs = builder.build(state, env_ids=np.array([1]))
    np.testing.assert_allclose(obs[:, 3], [2.0 * 0.01, 2.0 * 0.02], rtol=1e-6)


def _one_term_contract(obs=None, action=None, joint=None, rate=50.0):
    obs = obs or ObservationTerm("angular_velocity_rad_s", 3)
    action = action or ActionTerm("joint_position", ("knee",), scale=0.25)
    joints = (joint,) if joint is not None else ()
    return Contract("t", "r", rate, (obs,), (action,), joints=joints)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"rate": float("inf")}, "control_rate_hz"),
        ({"obs": ObservationTerm("angular_velocity_rad_s", 3, scale=float("inf"))}, "scale = inf"),
        ({"obs": ObservationTerm("angular_velocity_rad_s", 3, scale=0.0)}, "scale = 0.0"),
        ({"obs": ObservationTerm("angular_velocity_rad_s", 3, clip=-1.0)}, "clip = -1.0"),
        ({"obs": ObservationTerm("angular_velocity_rad_s", 3, noise_std=float("nan"))}, "noise_std = nan"),
        ({"action": ActionTerm("joint_position", ("knee",), scale=float("nan"))}, "scale = nan"),
        ({"action": ActionTerm("joint_position", ("knee",), scale=-0.25)}, "scale = -0.25"),
        ({"action": ActionTerm("joint_position", ("knee",), offset=float("inf"))}, "offset = inf"),
        ({"action": ActionTerm("joint_position", ("knee",), low=1.0, high=-1.0)}, "low/high"),
        ({"joint": JointDrive("knee", float("nan"), 20.0, 0.5, 10.0)}, "default_pos_rad = nan"),
        ({"joint": JointDrive("knee", 0.0, float("inf"), 0.5, 10.0)}, "kp_nm_per_rad = inf"),
    ],
)
def test_non_finite_or_wrong_signed_numbers_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ContractError) as exc:
        _one_term_contract(**kwargs)
    assert field in str(exc.value)


def test_a_rehashed_contract_with_a_nan_scale_does_not_load():
    good = _one_term_contract()
    d = json.loads(good.to_json())
    d["actions"][0]["scale"] = float("nan")
    with pytest.raises(ContractError, match="scale = nan"):
        Contract.from_json(json.dumps(d))
