"""PyBullet quadruped: built from the same parameter set as the MuJoCo model (joint names, order, frames,
masses, inertias, limits), the same PD law and randomization hooks, open-loop agreement with MuJoCo,
refusal of bad input, the walk task on PyBullet, and the shipped MuJoCo-trained policy walking in
PyBullet (slow)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import mujoco
import numpy as np
import pybullet as pb
import pytest

from bench.sim2sim_quadruped import load_bounds
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle, quat_to_rotmat
from sim.engines.mujoco_quadruped_engine import MujocoQuadrupedEngine
from sim.engines.pybullet_quadruped_engine import PybulletQuadrupedEngine
from sim.randomization.quadruped import QuadrupedRandomization
from sim.robots.quadruped import JOINT_NAMES, LEG_NAMES, QuadrupedParams, load_preset
from sim.robots.quadruped_mujoco import build_model
from sim.robots.quadruped_pybullet import (
    FOOT_LINKS,
    JOINT_LINKS,
    PybulletQuadrupedSettings,
    link_inertias_kg_m2,
)
from sim.tasks.quadruped_walk import QuadrupedWalkEnv, WalkConfig, make_engine
from training.evaluation_quadruped import evaluate_walk, policy_factory, stand_factory

PHYSICS_DT_S = 0.005
CONTROL_DT_S = 0.02
SETTINGS = PybulletQuadrupedSettings.from_yaml()
SHIPPED_WALK_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quadruped_walk.onnx"
SIM2SIM_EPISODES = 100  # the README's figures are the full 200-episode run (bench/sim2sim_quadruped.py)


@pytest.fixture(scope="module")
def go2() -> QuadrupedParams:
    return load_preset("go2")


def _state(params: QuadrupedParams, height_m: float, q: np.ndarray | None = None) -> RobotState:
    return RobotState(
        base_pos_m=np.array([[0.0, 0.0, height_m]]),
        base_quat_wxyz=np.array([[1.0, 0.0, 0.0, 0.0]]),
        base_lin_vel_m_s=np.zeros((1, 3)),
        base_ang_vel_rad_s=np.zeros((1, 3)),
        last_action=np.zeros((1, 0)),
        command=np.zeros((1, 0)),
        joint_names=JOINT_NAMES,
        joint_pos_rad=np.asarray(params.default_joint_pos_rad if q is None else q)[None],
        joint_vel_rad_s=np.zeros((1, 12)),
    )


# -- construction -------------------------------------------------------------------------------


def test_joint_names_order_frames_and_masses_match_the_mujoco_model(go2):
    """Same joints in the same order, and at random joint angles every link frame and centre of mass
    of PyBullet's robot lies where MuJoCo's body of the same name is."""
    mj_model = build_model(go2, PHYSICS_DT_S)
    mj_data = mujoco.MjData(mj_model)
    with PybulletQuadrupedEngine([go2], CONTROL_DT_S, PHYSICS_DT_S) as eng, \
            MujocoQuadrupedEngine([go2], CONTROL_DT_S, PHYSICS_DT_S, nthread=1) as mj_eng:  # fmt: skip
        assert eng.actuator_names == eng.joint_names == mj_eng.actuator_names == JOINT_NAMES
        assert [mj_model.joint(j).name for j in range(1, mj_model.njnt)] == list(JOINT_NAMES)
        body, c = eng._bodies[0], eng._client
        for k, name in enumerate(JOINT_NAMES):
            info = pb.getJointInfo(body, JOINT_LINKS[k], physicsClientId=c)
            assert info[2] == pb.JOINT_REVOLUTE, name
            np.testing.assert_allclose(info[13], mj_model.jnt_axis[mj_model.joint(name).id], err_msg=name)
        for link in FOOT_LINKS:
            assert pb.getJointInfo(body, link, physicsClientId=c)[2] == pb.JOINT_FIXED
        rng = np.random.default_rng(0)
        for _ in range(3):
            q = np.asarray(go2.default_joint_pos_rad) + rng.uniform(-0.5, 0.5, 12)
            eng.reset(np.array([0]), [go2], _state(go2, 1.0, q))
            mj_data.qpos[:] = 0.0
            mj_data.qpos[2], mj_data.qpos[3], mj_data.qpos[7:] = 1.0, 1.0, q
            mujoco.mj_forward(mj_model, mj_data)
            offset = eng._offset[0]
            for k, name in enumerate(JOINT_NAMES):
                link = pb.getLinkState(body, JOINT_LINKS[k], computeForwardKinematics=1, physicsClientId=c)
                com, frame = np.array(link[0]) - offset, np.array(link[4]) - offset
                b = mj_model.body(f"{name}_link").id
                np.testing.assert_allclose(com, mj_data.xipos[b], atol=1e-6, err_msg=name)
                np.testing.assert_allclose(frame, mj_data.xpos[b], atol=1e-6, err_msg=name)
            for leg, link_index in zip(LEG_NAMES, FOOT_LINKS, strict=True):
                foot = pb.getLinkState(body, link_index, computeForwardKinematics=1, physicsClientId=c)[4]
                mj_foot = mj_data.geom_xpos[mj_model.geom(f"{leg}_foot").id]
                np.testing.assert_allclose(np.array(foot) - offset, mj_foot, atol=1e-6, err_msg=leg)
        masses = [pb.getDynamicsInfo(body, i, physicsClientId=c)[0] for i in range(-1, 16)]
        assert sum(masses) == pytest.approx(mj_model.body_mass.sum()) == pytest.approx(go2.total_mass_kg)


def test_randomized_parameters_reach_the_pybullet_body(go2):
    """Masses, inertias, trunk centre of mass, friction, joint limits: what randomization drives."""
    p = QuadrupedRandomization.from_yaml().sample(go2, np.random.default_rng(5)).params
    assert p.trunk_com_m != go2.trunk_com_m and p.friction_coefficient != go2.friction_coefficient
    with PybulletQuadrupedEngine([go2], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng.reset(np.array([0]), [p], _state(p, 1.0))
        body, c = eng._bodies[0], eng._client
        assert eng._builder.removed == 1  # another trunk centre of mass: the body was rebuilt
        trunk = pb.getDynamicsInfo(body, -1, physicsClientId=c)
        assert trunk[0] == pytest.approx(p.trunk_mass_kg)
        np.testing.assert_allclose(trunk[3], p.trunk_com_m)
        np.testing.assert_allclose(trunk[2], p.trunk_inertia_kg_m2)
        inertias = link_inertias_kg_m2(p, SETTINGS)
        for k, link in enumerate(JOINT_LINKS):
            info = pb.getDynamicsInfo(body, link, physicsClientId=c)
            foot = SETTINGS.foot_link_mass_kg if JOINT_NAMES[k].endswith("calf") else 0.0
            assert info[0] + foot == pytest.approx(p.link_masses_kg[k])
            np.testing.assert_allclose(info[2], inertias[k], rtol=1e-6)
            assert info[1] == pytest.approx(p.friction_coefficient)  # × the ground's 1.0
    # joint limits: driven 1 rad past either end, every joint stops at its limit and is pushed back to it
    # (with PyBullet's split impulse on, it stayed up to 0.16 rad beyond; MuJoCo's soft limits overshoot
    # by up to 0.4 rad and settle 0.01-0.03 rad beyond; here at most 0.14 and 0.021)
    ranges = p.joint_range_rad
    for end, sign in ((1, 1.0), (0, -1.0)):
        with PybulletQuadrupedEngine([p], CONTROL_DT_S, PHYSICS_DT_S) as eng:
            eng.reset(np.array([0]), [p], _state(p, 2.0))
            beyond = []
            for _ in range(40):
                eng.step((ranges[:, end] + sign)[None])
                beyond.append(sign * (eng.state().joint_pos_rad[0] - ranges[:, end]))
        assert np.max(beyond) < 0.2 and np.max(beyond[-1]) < 0.05, np.round(beyond[-1], 3)


def test_pd_law_motor_strength_clipping_and_delay_equal_mujoco(go2):
    """One physics step per control step: the first torque is the PD law of either engine, exactly."""
    p = QuadrupedRandomization.from_yaml().sample(go2, np.random.default_rng(2)).params
    q0 = np.asarray(p.default_joint_pos_rad)
    offset = np.tile([0.1, -0.2, 0.3], 4)
    offset[1], offset[2] = 3.0, -3.0  # asks more than the torque limits of FL thigh and calf: clipped
    torques = []
    for cls, kw in ((PybulletQuadrupedEngine, {}), (MujocoQuadrupedEngine, {"nthread": 1})):
        with cls([p], PHYSICS_DT_S, PHYSICS_DT_S, **kw) as eng:
            eng.reset(np.array([0]), [p.with_changes(action_delay_s=0.0)], _state(p, 1.0))
            eng.step((q0 + offset)[None])
            torques.append(eng.joint_torque_nm()[0])
    s, kp = np.asarray(p.motor_strength), np.asarray(p.kp_nm_per_rad)
    expected = np.clip(s * kp * offset, -p.torque_limits_nm, p.torque_limits_nm)
    np.testing.assert_allclose(torques[0], expected, atol=1e-9)
    np.testing.assert_allclose(torques[0], torques[1], atol=1e-9)
    assert abs(torques[0][1]) == pytest.approx(p.torque_limits_nm[1])
    # a delay of the whole control period: the previous target is held through the period
    q0, new = np.asarray(go2.default_joint_pos_rad), np.asarray(go2.default_joint_pos_rad) + 0.3
    states = []
    for params, target in ((go2.with_changes(action_delay_s=CONTROL_DT_S), new), (go2, q0), (go2, new)):
        with PybulletQuadrupedEngine([params], CONTROL_DT_S, PHYSICS_DT_S) as eng:
            eng.reset(np.array([0]), [params], _state(params, 1.0), q0[None])
            eng.step(target[None])
            states.append(eng.state().joint_pos_rad[0])
    np.testing.assert_allclose(states[0], states[1], atol=1e-9)  # delayed new == old target held
    assert np.abs(states[2] - states[1]).max() > 1e-3  # and the new target does move the joints


def test_reset_and_state_round_trip_the_trunk_origin_not_the_centre_of_mass(go2):
    p = go2.with_changes(trunk_com_m=(0.05, -0.02, 0.03))
    rng = np.random.default_rng(1)
    initial = _state(p, 0.8, np.asarray(p.default_joint_pos_rad) + rng.uniform(-0.2, 0.2, 12))
    initial.base_pos_m = np.array([[0.3, -0.2, 0.8]])
    initial.base_quat_wxyz = quat_from_axis_angle(np.array([[0.3, -0.5, 1.0]]), np.array([0.7]))
    initial.base_lin_vel_m_s = np.array([[0.4, -0.3, 0.2]])
    initial.base_ang_vel_rad_s = np.array([[0.5, -1.0, 2.0]])
    initial.joint_vel_rad_s = rng.uniform(-1.0, 1.0, (1, 12))
    with PybulletQuadrupedEngine([go2, go2], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng.reset(np.array([1]), [p], initial)
        s = eng.state()
        fields = ("base_pos_m", "base_quat_wxyz", "base_lin_vel_m_s", "base_ang_vel_rad_s", "joint_pos_rad",
                  "joint_vel_rad_s")
        for f in fields:
            np.testing.assert_allclose(getattr(s, f)[1], getattr(initial, f)[0], atol=1e-9, err_msg=f)


def test_contacts_feet_on_the_ground_and_a_trunk_on_its_back(go2):
    upside_down = _state(go2, go2.trunk_half_extents_m[2] - go2.trunk_com_m[2] + 0.005)
    upside_down.base_quat_wxyz = np.array([[0.0, 1.0, 0.0, 0.0]])
    with PybulletQuadrupedEngine([go2, go2], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng.reset(np.array([0]), [go2], _state(go2, go2.standing_height_m()))
        eng.reset(np.array([1]), [go2], upside_down)
        for _ in range(10):
            eng.step(np.tile(go2.default_joint_pos_rad, (2, 1)))
        assert eng.foot_contact()[0].all() and not eng.ground_contact()[0] and eng.leg_collisions()[0] == 0
        assert eng.ground_contact()[1] and not eng.foot_contact()[1].any()


# -- open-loop agreement with MuJoCo --------------------------------------------------------------------

Targets = Callable[[float], np.ndarray]


def _rollout(engine: object, params: QuadrupedParams, height_m: float, steps: int, targets: Targets) -> dict:
    q0 = np.asarray(params.default_joint_pos_rad)
    engine.reset(np.array([0]), [params], _state(params, height_m), q0[None])
    out: dict[str, list] = {"q": [], "pos": [], "up": [], "vel": [], "omega": []}
    for i in range(steps):
        engine.step(targets(i * CONTROL_DT_S)[None])
        s = engine.state()
        out["q"].append(s.joint_pos_rad[0])
        out["pos"].append(s.base_pos_m[0])
        out["up"].append(quat_to_rotmat(s.base_quat_wxyz)[0, 2])  # world z in the body frame: roll/pitch
        out["vel"].append(s.base_lin_vel_m_s[0])
        out["omega"].append(s.base_ang_vel_rad_s[0])
    return {k: np.array(v) for k, v in out.items()}


def _mujoco(
    params: QuadrupedParams, height_m: float, steps: int, targets: Targets, euler: bool = False
) -> dict:
    with MujocoQuadrupedEngine([params], CONTROL_DT_S, PHYSICS_DT_S, nthread=1) as eng:
        if euler:
            for m in eng.models:
                m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
        return _rollout(eng, params, height_m, steps, targets)


def _pybullet(params: QuadrupedParams, height_m: float, steps: int, targets: Targets,
              settings: PybulletQuadrupedSettings = SETTINGS) -> dict:
    with PybulletQuadrupedEngine([params], CONTROL_DT_S, PHYSICS_DT_S, settings=settings) as eng:
        return _rollout(eng, params, height_m, steps, targets)


def _deviation(a: dict, b: dict) -> dict[str, float]:
    return {
        "joint_rad": float(np.abs(a["q"] - b["q"]).max()),
        "height_m": float(np.abs(a["pos"][:, 2] - b["pos"][:, 2]).max()),
        "up": float(np.abs(a["up"] - b["up"]).max()),
        "pos_m": float(np.abs(a["pos"] - b["pos"]).max()),
        "vel_m_s": float(np.abs(a["vel"] - b["vel"]).max()),
        "omega_rad_s": float(np.abs(a["omega"] - b["omega"]).max()),
    }


def _air_steps(q0: np.ndarray) -> Targets:
    """Steps of every joint (thighs and calves opposite, legs unequal), reversed after 0.1 s."""
    shape = np.tile([0.5, 1.0, -1.0], 4) * np.repeat([1.0, 1.2, 0.8, 1.1], 3)
    return lambda t: q0 + (0.3 if t < 0.1 else -0.2) * shape


def _squat(q0: np.ndarray) -> Targets:
    """Squat and rise at 0.75 Hz, front legs deeper than rear ones (so the trunk pitches)."""
    shape = np.tile([0.0, 1.0, -1.6], 4) * np.repeat([1.0, 1.0, 0.6, 0.6], 3)
    return lambda t: q0 + 0.25 * np.sin(2 * np.pi * 0.75 * t) * shape


def test_engines_agree_exactly_when_what_differs_between_them_is_switched_off(go2):
    """In the air (no contact), without armature, joint damping and friction loss, and with MuJoCo on
    its explicit Euler integrator, both engines integrate the same equations of motion: measured
    2.3e-5 rad, 8e-6 m and 6e-6 (gravity direction) over 0.3 s. The bounds, ~10x that, are far below
    what a 5 % gain error (1.6e-2 rad), a 10 % trunk-mass error (1.1e-3 rad, 2.3e-4 m), a 10 % trunk
    inertia error (2.8e-3 rad) or a 1 cm centre-of-mass error (1.5e-3 rad) make."""
    zero = (0.0,) * 12
    p = go2.with_changes(joint_armature_kg_m2=zero, joint_damping_nm_s_per_rad=zero, joint_friction_nm=zero)
    targets = _air_steps(np.asarray(p.default_joint_pos_rad))
    mj = _mujoco(p, 2.0, 15, targets, euler=True)
    d = _deviation(mj, _pybullet(p, 2.0, 15, targets, dataclasses.replace(SETTINGS, armature_model="none")))
    assert d["joint_rad"] < 2e-4 and d["pos_m"] < 1e-4 and d["up"] < 1e-4, d
    assert d["vel_m_s"] < 1e-3 and d["omega_rad_s"] < 1e-3, d
    wrong = _pybullet(p.with_changes(kp_nm_per_rad=(21.0,) * 12), 2.0, 15, targets,
                      dataclasses.replace(SETTINGS, armature_model="none"))
    assert _deviation(mj, wrong)["joint_rad"] > 1e-2


# Bounds of the nominal robot, each engine as configured, squatting for 1 s from standing: measured
# 0.064 rad (joints), 9.7 mm (height, the first landing sag: PyBullet's hard contacts hold the feet
# where MuJoCo's soft ones let them creep outwards) and 0.019 (gravity direction). A wrong sign, a
# swapped leg, a ±20-25 % gain, motor-strength or link-mass error or a ±30 % trunk mass measured
# 0.13-1.1 rad, 17-61 mm and 0.039-0.40: each exceeds at least the joint bound.
SQUAT_BOUNDS = {"joint_rad": 0.10, "height_m": 0.014, "up": 0.03}


def _within(d: dict[str, float]) -> bool:
    return all(d[k] <= v for k, v in SQUAT_BOUNDS.items())


def test_open_loop_joint_targets_agree_with_mujoco_on_the_ground(go2):
    q0 = np.asarray(go2.default_joint_pos_rad)
    h, steps = go2.standing_height_m(), 50
    targets = _squat(q0)
    mj = _mujoco(go2, h, steps, targets)
    d = _deviation(mj, _pybullet(go2, h, steps, targets))
    assert _within(d), f"PyBullet vs MuJoCo {d}, bounds {SQUAT_BOUNDS}"
    # and the bounds do catch what they are there to catch
    flip = np.ones(12)
    flip[1] = -1.0
    swap = np.r_[3:6, 0:3, 6:12]
    wrong_inputs = {
        "sign of FL_thigh": lambda t: q0 + flip * (targets(t) - q0),
        "FL and FR swapped": lambda t: targets(t)[swap],
    }
    for what, wrong in wrong_inputs.items():
        assert not _within(_deviation(mj, _pybullet(go2, h, steps, wrong))), what
    wrong_robots = {
        "Kp x0.8": go2.with_changes(kp_nm_per_rad=(16.0,) * 12),
        "trunk mass x1.3": go2.with_changes(trunk_mass_kg=1.3 * go2.trunk_mass_kg),
    }
    for what, robot in wrong_robots.items():
        assert not _within(_deviation(mj, _pybullet(robot, h, steps, targets))), what


# -- bad input --------------------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error(go2):
    q0 = np.asarray(go2.default_joint_pos_rad)
    with PybulletQuadrupedEngine([go2, go2], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        shape = r"expected joint position targets of shape \(2, 12\).*found \(2, 11\)"
        with pytest.raises(ValueError, match=shape):
            eng.step(np.tile(q0[:11], (2, 1)))
        with pytest.raises(ValueError, match=r"shape \(2, 12\).*found \(12,\)"):
            eng.step(q0)
        bad = np.tile(q0, (2, 1))
        bad[1, 4] = np.nan
        with pytest.raises(ValueError, match="must be finite, found nan for FR_thigh of environment 1"):
            eng.step(bad)
        bad[1, 4] = np.inf
        with pytest.raises(ValueError, match="must be finite"):
            eng.reset(np.array([1]), [go2], _state(go2, 1.0), bad[1:])
        lacking = _state(go2, 1.0)
        lacking.joint_names = JOINT_NAMES[:-1]
        lacking.joint_pos_rad = lacking.joint_pos_rad[:, :-1]
        with pytest.raises(ValueError, match=r"lacks joints \['RR_calf'\]"):
            eng.reset(np.array([0]), [go2], lacking)
        with pytest.raises(ValueError, match="got 2 parameter sets and 1 initial states"):
            eng.reset(np.array([0]), [go2, go2], _state(go2, 1.0))
        eng.step(np.tile(q0, (2, 1)))  # still usable after the refusals
        assert eng.state().is_finite().all()
    with pytest.raises(ValueError, match=r"engine 'bullet' has no quadruped model.*\['mujoco', 'pybullet'\]"):
        make_engine("bullet", [go2], WalkConfig.from_yaml())
    with pytest.raises(ValueError, match="armature_model must be one of"):
        dataclasses.replace(SETTINGS, armature_model="rotor")


# -- the task on PyBullet -------------------------------------------------------------------------------


def test_walk_task_runs_on_pybullet_and_the_stand_baseline_stands():
    env = QuadrupedWalkEnv(2, randomization=QuadrupedRandomization.from_yaml(), engine="pybullet", seed=0,
                           autoreset=False)
    try:
        obs, _ = env.reset(seed=0)
        stand = stand_factory(env)
        for _ in range(int(1.5 / env.config.control_dt_s)):
            obs, reward, fell, _, _ = env.step(stand.act(env.robot_state(), obs))
            assert not fell.any() and np.isfinite(obs).all() and np.isfinite(reward).all()
        assert env.robot_state().base_pos_m[:, 2].min() > 0.22
        assert env.privileged_observation().shape[0] == 2
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.skipif(
    not SHIPPED_WALK_POLICY.exists(),
    reason=f"{SHIPPED_WALK_POLICY} is absent: produce it with the README's walking training command",
)
def test_shipped_mujoco_policy_walks_in_pybullet():
    """The sim2sim bounds on 100 randomized PyBullet episodes of eval seed 0 (~70 s here)."""
    bounds = load_bounds()
    report = evaluate_walk(
        policy_factory(SHIPPED_WALK_POLICY), "quadruped_walk.onnx", engine="pybullet",
        episodes=SIM2SIM_EPISODES, seed=0, randomize=True, progress=False,
    )  # fmt: skip
    figures = {k: report[k] for k in ("fall_rate", "lin_vel_err_m_s_mean", "yaw_rate_err_rad_s_mean")}
    assert report["fall_rate"] <= bounds["max_fall_rate"], figures
    assert report["lin_vel_err_m_s_mean"] <= bounds["max_lin_vel_err_m_s"], figures
