"""Collective thrust + body rate (CTBR) hover: config, contract, the modelled rate loop on every
engine (frames and signs, agreement), randomized gains, and a reference controller that flies it."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.actions import actuator_to_action
from deploy.contract import CTBR_TARGETS, Contract, ContractError
from deploy.pid import QuadrotorPid
from deploy.quadrotor_params import QuadrotorParams, RateControllerParams
from deploy.rate_controller import RateController, RateControllerMissingError, hover_collective_thrust
from deploy.robot_state import RobotState
from deploy.rotations import quat_to_rotmat
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.robots.quadrotor import load_preset
from sim.tasks.quadrotor_hover import DEFAULT_CONFIG, HoverConfig, QuadrotorHoverEnv, make_engine

CTBR_TASK = DEFAULT_CONFIG.with_name("quadrotor_hover_ctbr.yaml")
ENGINES = ("analytic", "mujoco", "pybullet")


@pytest.fixture(scope="module")
def ctbr() -> HoverConfig:
    return HoverConfig.from_yaml(CTBR_TASK)


def _level_state(n: int, omega: np.ndarray | None = None) -> RobotState:
    return RobotState(
        base_pos_m=np.tile([0.0, 0.0, 2.0], (n, 1)),
        base_quat_wxyz=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)) if omega is None else omega,
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
    )


def _fly(engine_name: str, cfg: HoverConfig, setpoints: np.ndarray, steps: int) -> RobotState:
    """Hold CTBR setpoints (N, 4) for `steps` control periods from a level hover; the final state."""
    p = cfg.nominal_params()
    n = len(setpoints)
    engine = make_engine(engine_name, [p] * n, cfg)
    try:
        hover = np.tile(cfg.hover_actuator_command(), (n, 1))
        engine.reset(np.arange(n), [p] * n, _level_state(n), hover)
        for _ in range(steps):
            engine.step(setpoints)
        return engine.state()
    finally:
        engine.close()


# -- config and contract ----------------------------------------------------------------------


def test_default_task_stays_motor_level():
    cfg = HoverConfig.from_yaml()
    assert cfg.action_mode == "motors"
    contract = cfg.contract()
    assert contract.action_mode == "actuators"
    assert contract.action_target_names == cfg.nominal_params().motor_names
    # serialized (and hashed) exactly as before action modes existed
    assert "action_mode" not in contract.to_dict()
    assert Contract.from_json(contract.to_json()).sha256() == contract.sha256()


def test_ctbr_contract_says_its_mode_and_round_trips(ctbr):
    contract = ctbr.contract()
    assert contract.action_mode == "ctbr"
    assert contract.action_target_names == CTBR_TARGETS
    assert [t.name for t in contract.actions] == [
        "collective_thrust",
        "body_rate_roll_pitch",
        "body_rate_yaw",
    ]
    back = Contract.from_json(contract.to_json())
    assert back == contract and back.to_dict()["action_mode"] == "ctbr"
    assert contract.sha256() != HoverConfig.from_yaml().contract().sha256()
    # an action of ±1 is ± the configured rates; -1..1 thrust is 0..1 of the maximum
    act = np.array([[1.0, 1.0, -1.0, 1.0], [-1.0, 0.0, 0.0, 0.0]])
    from deploy.actions import action_to_actuator

    np.testing.assert_allclose(
        action_to_actuator(contract, act), [[1.0, 8.0, -8.0, 3.0], [0.0, 0.0, 0.0, 0.0]]
    )


def test_contract_refuses_unknown_mode_and_misordered_ctbr_targets(ctbr):
    d = ctbr.contract().to_dict()
    with pytest.raises(ContractError, match="action_mode 'rates' unknown"):
        Contract.from_dict({**d, "action_mode": "rates"})
    swapped = [dict(a) for a in d["actions"]]
    swapped[1]["target_names"] = ["pitch_rate", "roll_rate"]
    with pytest.raises(ContractError, match="a ctbr contract commands"):
        Contract.from_dict({**d, "actions": swapped})


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ({"mode": "rates"}, "action.mode 'rates' unknown"),
        ({"mode": "ctbr", "max_roll_pitch_rate_rad_s": 8.0}, "max_yaw_rate_rad_s must be a positive"),
        ({"mode": "motors", "max_yaw_rate_rad_s": 3.0}, "apply to mode ctbr only"),
        ({"mode": "ctbr", "max_roll_pitch_rate_rad_s": 8.0, "max_yaw_rate_rad_s": 3.0, "x": 1}, "keys among"),
    ],
)
def test_bad_action_sections_are_named(action, match):
    d = dict(HoverConfig.from_yaml().source)
    with pytest.raises(ValueError, match=match):
        HoverConfig.from_dict({**d, "action": action})


def test_ctbr_vehicle_without_rate_gains_is_refused(tmp_path, ctbr):
    params = load_preset(ctbr.robot).with_changes(rate_controller=None)
    path = tmp_path / "bare.yaml"
    import yaml

    path.write_text(yaml.safe_dump(params.to_dict()))
    with pytest.raises(RateControllerMissingError, match="no `rate_controller` gains"):
        HoverConfig.from_dict({**ctbr.source, "robot": str(path)}).contract()


def test_vehicle_parameters_round_trip_with_and_without_rate_gains():
    p = load_preset("crazyflie_2_1")
    assert isinstance(p.rate_controller, RateControllerParams)
    assert QuadrotorParams.from_dict(p.to_dict()) == p
    bare = p.with_changes(rate_controller=None)
    assert "rate_controller" not in bare.to_dict()
    assert QuadrotorParams.from_dict(bare.to_dict()) == bare
    with pytest.raises(ValueError, match="rate_controller: expected exactly the keys"):
        QuadrotorParams.from_dict({**p.to_dict(), "rate_controller": {"kp_1_s": [1, 1, 1]}})


# -- the rate loop -----------------------------------------------------------------------------


def test_mixer_at_zero_torque_gives_equal_motors_that_carry_the_weight():
    p = load_preset("crazyflie_2_1")
    rc = RateController([p], 0.005)
    u = rc.mix(np.array([hover_collective_thrust(p)]), np.zeros((1, 3)))
    np.testing.assert_allclose(u[0], p.hover_command, atol=1e-12)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_positive_rates_turn_the_vehicle_the_rep103_way(ctbr, engine_name):
    """Body FLU, REP-103: +roll rate puts the right wing (−y) down, +pitch rate the nose (+x) down,
    +yaw rate turns the nose to the left (counter-clockwise seen from above)."""
    c = float(ctbr.hover_actuator_command()[0])
    setpoints = np.array([[c, 1.5, 0.0, 0.0], [c, 0.0, 1.5, 0.0], [c, 0.0, 0.0, 1.5]])
    state = _fly(engine_name, ctbr, setpoints, steps=30)  # 0.3 s
    omega = state.base_ang_vel_rad_s
    for axis in range(3):  # each rate is tracked on its own axis, with the commanded sign
        assert omega[axis, axis] > 1.0, omega
        assert np.all(np.abs(np.delete(omega[axis], axis)) < 0.1), omega
    rot = quat_to_rotmat(state.base_quat_wxyz)  # body → world: column k is body axis k in the world
    # roll +: body z leans to −y (right wing down), the thrust pushes the vehicle right
    assert rot[0, 1, 2] < -0.1 and state.base_pos_m[0, 1] < 0
    # pitch +: body z leans to +x (nose down), the vehicle accelerates forward
    assert rot[1, 0, 2] > 0.1 and state.base_pos_m[1, 0] > 0
    # yaw +: body x turns towards +y, the vehicle stays level
    assert rot[2, 1, 0] > 0.1 and abs(rot[2, 2, 2] - 1.0) < 1e-3


def test_rate_loop_agrees_across_engines(ctbr):
    c = float(ctbr.hover_actuator_command()[0])
    setpoints = np.array([[0.5, 1.0, 0.0, 0.0], [c - 0.02, 0.0, -1.0, 0.5]])
    ref = _fly("analytic", ctbr, setpoints, steps=30)
    mj = _fly("mujoco", ctbr, setpoints, steps=30)
    pb = _fly("pybullet", ctbr, setpoints, steps=30)
    np.testing.assert_allclose(mj.base_pos_m, ref.base_pos_m, atol=1e-6)
    np.testing.assert_allclose(mj.base_ang_vel_rad_s, ref.base_ang_vel_rad_s, atol=1e-6)
    # PyBullet integrates differently (semi-implicit Euler): close, not equal
    np.testing.assert_allclose(pb.base_pos_m, ref.base_pos_m, atol=5e-3)
    np.testing.assert_allclose(pb.base_ang_vel_rad_s, ref.base_ang_vel_rad_s, atol=5e-3)


# -- randomization -----------------------------------------------------------------------------


def test_rate_gains_are_drawn_for_ctbr_only_and_leave_other_draws_alone():
    rand = QuadrotorRandomization.from_yaml()
    nominal = load_preset("crazyflie_2_1")
    terms = ("position_error_m",)
    factors = []
    for i in range(50):
        motor = rand.sample(nominal, np.random.default_rng([3, i]), terms)
        rate = rand.sample(nominal, np.random.default_rng([3, i]), terms, rate_controller=True)
        assert motor.params.rate_controller == nominal.rate_controller
        assert rate.params.with_changes(rate_controller=nominal.rate_controller) == motor.params
        assert rate.force_world_n == motor.force_world_n and rate.noise_scale == motor.noise_scale
        k = rate.params.rate_controller.kp_1_s[0] / nominal.rate_controller.kp_1_s[0]
        assert rate.params.rate_controller == nominal.rate_controller.scaled(k)
        factors.append(k)
    assert 0.8 <= min(factors) < max(factors) <= 1.25


def test_absolute_rate_gain_range_is_refused():
    with pytest.raises(ValueError, match="rate_controller_gains: expected \\{scale"):
        QuadrotorRandomization.from_dict({"vehicle": {"rate_controller_gains": {"value": [1, 2]}}})


# -- a reference controller flies it -------------------------------------------------------------


def test_pid_outer_loops_fly_randomized_ctbr_hover_in_mujoco(ctbr):
    """The position PID's outer loops (thrust + body-rate setpoints) through the modelled rate loop:
    16 randomized episodes (vehicle, gains, delay, disturbance, noise) all reach the gate radius."""
    n = 16
    env = QuadrotorHoverEnv(
        n, ctbr, QuadrotorRandomization.from_yaml(), engine="mujoco", seed=0, autoreset=False
    )
    try:
        assert env.engine.actuator_names == CTBR_TARGETS
        pid = QuadrotorPid(env.nominal, n, ctbr.control_dt_s)
        env.reset()
        pid.reset()
        episodes = []
        for _ in range(ctbr.episode_steps):
            action = actuator_to_action(env.contract, pid.act_ctbr(env.robot_state()))
            _, _, _, _, info = env.step(action)
            if "episode" in info:
                episodes.append(info["episode"])
    finally:
        env.close()
    success = np.concatenate([e["success"] for e in episodes])
    crashed = np.concatenate([e["crashed"] for e in episodes])
    err = np.concatenate([e["final_pos_err_m"] for e in episodes])
    assert len(success) == n
    assert not crashed.any()
    assert success.all(), f"final errors {np.round(err, 4)} m; gate radius {ctbr.success['max_pos_err_m']} m"


def test_ctbr_episode_starts_at_the_hover_thrust_with_zero_rates(ctbr):
    env = QuadrotorHoverEnv(2, ctbr, None, engine="analytic", seed=0, autoreset=False)
    try:
        env.reset()
        expected = actuator_to_action(env.contract, ctbr.hover_actuator_command())
        np.testing.assert_allclose(env.robot_state().last_action, np.tile(expected, (2, 1)))
        assert expected[1:].tolist() == [0.0, 0.0, 0.0]
    finally:
        env.close()


def test_gate_and_eval_fly_a_ctbr_policy_on_the_ctbr_task(tmp_path, ctbr):
    """A ctbr policy is evaluated and gated on the ctbr task (its contract equals that task's), with
    the gate's thresholds; the PID baseline flies the same task through the rate loop."""
    from tests.runtime_helpers import write_linear_policy
    from training.evaluation import config_for_policy, evaluate, pid_factory
    from training.gate import check_gate

    contract = ctbr.contract()
    bias = actuator_to_action(contract, ctbr.hover_actuator_command())  # constant hover thrust, no rates
    path = write_linear_policy(
        tmp_path / "ctbr.onnx", contract, np.zeros((contract.observation_size, 4)), bias
    )
    assert config_for_policy(path).action_mode == "ctbr"
    result = check_gate(path, episodes=2)
    assert result.policy["episodes"] == 2 and result.pid["episodes"] == 2
    assert result.pid["success_rate"] == 1.0  # the PID's outer loops reach the target
    assert not result.passed  # a constant thrust does not
    pid, _ = evaluate(pid_factory, "pid", episodes=2, randomize=True, config=ctbr, progress=False)
    assert pid["success_rate"] == 1.0
