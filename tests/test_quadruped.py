"""Quadruped: model from the parameter set, PD actuation and clipping, delay, randomization, the walk
task's contract and observations, the stand baseline, and train → export → eval of the exported file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from deploy.contract import Contract
from deploy.policy_file import PolicyFile
from deploy.robot_state import RobotState
from deploy.rotations import quat_to_rotmat
from sim.engines.mujoco_quadruped_engine import MujocoQuadrupedEngine
from sim.randomization.quadruped import QuadrupedRandomization
from sim.robots.quadruped import JOINT_NAMES, QuadrupedParams, load_preset
from sim.robots.quadruped_mujoco import TRUNK_BODY, apply_params, build_model
from sim.tasks.quadruped_walk import PRIVILEGED_SIZE, QuadrupedWalkEnv, WalkConfig
from training.config import TrainConfig, default_config_path
from training.evaluation_quadruped import evaluate_walk, policy_factory, stand_factory
from training.export import export
from training.train import train
from training.validation import WalkValidationScore

TASK = "quadruped-walk"
PHYSICS_DT_S = 0.005
CONTROL_DT_S = 0.02


@pytest.fixture(scope="module")
def go2() -> QuadrupedParams:
    return load_preset("go2")


def _standing(params: QuadrupedParams, n: int = 1, height_m: float | None = None) -> RobotState:
    q0 = np.tile(params.default_joint_pos_rad, (n, 1))
    z = params.standing_height_m() if height_m is None else height_m
    return RobotState(
        base_pos_m=np.tile([0.0, 0.0, z], (n, 1)),
        base_quat_wxyz=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)),
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
        joint_names=JOINT_NAMES,
        joint_pos_rad=q0,
        joint_vel_rad_s=np.zeros((n, 12)),
    )


# -- the robot model -----------------------------------------------------------------------------


def test_preset_carries_the_public_go2_facts(go2):
    assert go2.joint_names == JOINT_NAMES
    assert JOINT_NAMES[:3] == ("FL_hip", "FL_thigh", "FL_calf") and JOINT_NAMES[-1] == "RR_calf"
    assert go2.trunk_mass_kg == pytest.approx(6.921)
    assert 14.5 < go2.total_mass_kg < 15.5
    assert go2.hip_offset_m == (0.1934, 0.0465)
    assert go2.thigh_length_m == go2.calf_length_m == 0.213
    np.testing.assert_allclose(go2.torque_limits_nm[:3], [23.7, 23.7, 45.43])


def test_model_is_built_from_the_parameter_set(go2):
    m = build_model(go2, PHYSICS_DT_S)
    assert m.opt.timestep == PHYSICS_DT_S
    assert tuple(m.actuator(i).name for i in range(m.nu)) == JOINT_NAMES
    assert m.body_mass.sum() == pytest.approx(go2.total_mass_kg)
    assert m.body_mass[m.body(TRUNK_BODY).id] == pytest.approx(go2.trunk_mass_kg)
    ranges = go2.joint_range_rad
    for k, name in enumerate(JOINT_NAMES):
        j = m.joint(name).id
        np.testing.assert_allclose(m.jnt_range[j], ranges[k])  # radians, not degrees
        a = m.actuator(name).id
        np.testing.assert_allclose(
            m.actuator_forcerange[a], [-go2.torque_limits_nm[k], go2.torque_limits_nm[k]]
        )
        assert m.actuator_gainprm[a, 0] == pytest.approx(go2.kp_nm_per_rad[k])
        np.testing.assert_allclose(
            m.actuator_biasprm[a, :3], [0.0, -go2.kp_nm_per_rad[k], -go2.kd_nm_s_per_rad[k]]
        )
    # rear thighs have the wider range
    assert m.jnt_range[m.joint("RL_thigh").id][1] > m.jnt_range[m.joint("FL_thigh").id][1]


def test_apply_params_equals_rebuilding(go2):
    sample = QuadrupedRandomization.from_yaml().sample(go2, np.random.default_rng(3))
    rebuilt = build_model(sample.params, PHYSICS_DT_S)
    patched = build_model(go2, PHYSICS_DT_S)
    apply_params(patched, sample.params)
    for field in (
        "body_mass",
        "body_inertia",
        "body_ipos",
        "dof_damping",
        "dof_armature",
        "dof_frictionloss",
        "actuator_gainprm",
        "actuator_biasprm",
        "actuator_forcerange",
        "geom_friction",
    ):
        np.testing.assert_allclose(getattr(patched, field), getattr(rebuilt, field), err_msg=field)
    assert not np.allclose(patched.body_mass, build_model(go2, PHYSICS_DT_S).body_mass)


def test_parameter_errors_name_the_problem(go2):
    d = go2.to_dict()
    d["kp_nm_per_rad"] = [20.0] * 11
    with pytest.raises(ValueError, match="kp_nm_per_rad.*12 values.*found 11"):
        QuadrupedParams.from_dict(d)
    d = go2.to_dict()
    d["default_joint_pos_rad"] = {
        **dict(zip(JOINT_NAMES, go2.default_joint_pos_rad, strict=True)),
        "FL_calf": 0.0,
    }
    with pytest.raises(ValueError, match="FL_calf"):
        QuadrupedParams.from_dict(d)


# -- actuation ------------------------------------------------------------------------------------


def _first_substep_torque(params: QuadrupedParams, target: np.ndarray) -> np.ndarray:
    """Joint torques at the first physics step from the default pose at rest, robot in the air."""
    with MujocoQuadrupedEngine([params], CONTROL_DT_S, PHYSICS_DT_S, nthread=1) as eng:
        eng.reset(np.array([0]), [params], _standing(params, height_m=1.0))
        eng.step(target[None])
        return eng._last_sensor[0, 0, eng._s_torque]


def test_pd_torque_law_and_clipping(go2):
    q0 = np.asarray(go2.default_joint_pos_rad)
    offset = np.zeros(12)
    offset[0], offset[2] = 0.1, -0.2  # small errors: within the limits
    np.testing.assert_allclose(_first_substep_torque(go2, q0 + offset), 20.0 * offset, atol=1e-9)
    weak = go2.with_changes(motor_strength=(0.5,) * 12)
    np.testing.assert_allclose(_first_substep_torque(weak, q0 + offset), 10.0 * offset, atol=1e-9)
    offset[:] = 0.0
    offset[1], offset[2], offset[3] = 3.0, -3.0, 0.5  # 60 N·m asked of thigh and knee: clipped
    tau = _first_substep_torque(go2, q0 + offset)
    assert tau[1] == pytest.approx(23.7) and tau[2] == pytest.approx(-45.43)
    assert tau[3] == pytest.approx(10.0)
    assert np.all(np.abs(tau) <= go2.torque_limits_nm + 1e-9)


def test_action_delay_holds_the_previous_target_for_that_long(go2):
    q0 = np.asarray(go2.default_joint_pos_rad)
    new = q0 + 0.3
    delayed = go2.with_changes(action_delay_s=CONTROL_DT_S)  # the whole control period
    states = []
    for params, target in ((delayed, new), (go2, q0), (go2, new)):
        with MujocoQuadrupedEngine([params], CONTROL_DT_S, PHYSICS_DT_S, nthread=1) as eng:
            eng.reset(np.array([0]), [params], _standing(params, height_m=1.0), q0[None])
            eng.step(target[None])
            states.append(eng.state().joint_pos_rad[0])
    np.testing.assert_allclose(states[0], states[1], atol=1e-9)  # delayed new == old target held
    assert np.abs(states[2] - states[1]).max() > 1e-3  # and the new target does move the joints


def test_pd_stand_holds_height_for_two_seconds():
    env = QuadrupedWalkEnv(4, randomization=None, seed=0, autoreset=False)
    try:
        obs, _ = env.reset(seed=0)
        stand = stand_factory(env)
        heights, tilts = [], []
        for _ in range(int(2.0 / env.config.control_dt_s)):
            obs, _, fell, _, _ = env.step(stand.act(env.robot_state(), obs))
            s = env.robot_state()
            heights.append(s.base_pos_m[:, 2])
            tilts.append(np.degrees(np.arccos(quat_to_rotmat(s.base_quat_wxyz)[:, 2, 2])))
            assert not fell.any()
        heights = np.array(heights)
        assert heights[-50:].min() > 0.22, heights[-50:].min()  # stands (Kp 20 sags from 0.33 m to ≈ 0.25 m)
        assert np.ptp(heights[-25:], axis=0).max() < 0.01  # and has settled
        assert np.max(tilts) < 10.0
    finally:
        env.close()


# -- randomization ----------------------------------------------------------------------------------


def test_randomization_is_reproducible_and_in_range(go2):
    rand = QuadrupedRandomization.from_yaml()
    terms = ("a", "b")
    a = rand.sample(go2, np.random.default_rng([7, 1]), terms, 20.0)
    b = rand.sample(go2, np.random.default_rng([7, 1]), terms, 20.0)
    assert a.to_dict() == b.to_dict()
    samples = [rand.sample(go2, np.random.default_rng([7, k]), terms, 20.0) for k in range(200)]
    mu = np.array([s.params.friction_coefficient for s in samples])
    added = np.array([s.params.trunk_mass_kg - go2.trunk_mass_kg for s in samples])
    com = np.array([np.subtract(s.params.trunk_com_m, go2.trunk_com_m) for s in samples])
    kp = np.array([np.divide(s.params.kp_nm_per_rad, go2.kp_nm_per_rad) for s in samples])
    strength = np.array([s.params.motor_strength for s in samples])
    delay = np.array([s.params.action_delay_s for s in samples])
    armature = np.array([s.params.joint_armature_kg_m2 for s in samples])
    for x, lo, hi in (
        (mu, 0.4, 1.25),
        (added, -1.0, 2.0),
        (com, -0.03, 0.03),
        (kp, 0.9, 1.1),
        (strength, 0.9, 1.1),
        (delay, 0.0, 0.02),
        (armature, 0.005, 0.02),
    ):
        assert x.min() >= lo and x.max() <= hi
        assert x.max() - x.min() > 0.8 * (hi - lo)  # the range is really used
    assert len({tuple(k) for k in kp}) == 200 and np.ptp(kp[0]) > 0  # one draw per joint
    for s in samples:
        assert all(0.5 <= f <= 1.5 for f in s.noise_scale.values()) and set(s.noise_scale) == set(terms)
        t = np.asarray(s.push_times_s)
        assert np.all(np.diff(t) >= 6.0) and (len(t) == 0 or 6.0 <= t[0] < 20.0)
        assert np.all(np.abs(np.asarray(s.push_lin_vel_m_s)) <= 0.5)
    assert sum(len(s.push_times_s) for s in samples) > 200  # 1–3 pushes in 20 s


def test_randomization_rejects_unknown_keys_and_bad_ranges():
    with pytest.raises(ValueError, match="frictio"):
        QuadrupedRandomization.from_dict({"robot": {"frictio": {"value": [0.5, 1.0]}}})
    with pytest.raises(ValueError, match="additive"):
        QuadrupedRandomization.from_dict({"robot": {"added_trunk_mass_kg": {"scale": [0.5, 1.0]}}})
    with pytest.raises(ValueError, match="≥ 0"):
        QuadrupedRandomization.from_dict({"robot": {"action_delay_s": {"value": [-0.01, 0.02]}}})


def test_episodes_replay_from_seed_and_index():
    rand = QuadrupedRandomization.from_yaml()
    env = QuadrupedWalkEnv(1, randomization=rand, seed=5)
    try:
        s1, p1 = env.sample_episode(12)
        s2, p2 = env.sample_episode(12)
        s3, _ = env.sample_episode(13)
    finally:
        env.close()
    assert s1.to_dict() == s2.to_dict() != s3.to_dict()
    np.testing.assert_array_equal(p1.commands, p2.commands)
    np.testing.assert_array_equal(p1.initial.joint_pos_rad, p2.initial.joint_pos_rad)
    c = WalkConfig.from_yaml().commands
    assert np.all(np.abs(p1.commands[:, 0]) <= c["lin_vel_x_m_s"][1])
    assert np.all(np.abs(p1.commands[:, 1]) <= c["lin_vel_y_m_s"][1])


# -- the task's contract and observations ----------------------------------------------------------------


def test_contract_and_observation_layout(go2):
    env = QuadrupedWalkEnv(3, randomization=None, seed=1)
    try:
        c = env.contract
        assert c.task == TASK and c.control_rate_hz == 50.0
        assert c.action_target_names == JOINT_NAMES
        np.testing.assert_allclose([a.offset for a in c.actions], go2.default_joint_pos_rad)
        assert {a.scale for a in c.actions} == {go2.action_scale_rad}
        assert [t.name for t in c.observations] == [
            "angular_velocity_rad_s",
            "projected_gravity",
            "velocity_command",
            "joint_pos_rel_default_rad",
            "joint_vel_rad_s",
            "previous_action",
        ]
        assert c.observation_size == 45 and c.action_size == 12
        assert not any("lin_vel" in t.name for t in c.observations)  # the actor sees no true velocity
        # What the robot needs beyond the policy: per joint, default pose, PD gains, torque limit.
        assert [j.name for j in c.joints] == list(JOINT_NAMES)
        np.testing.assert_allclose(c.joint_default_pos_rad, go2.default_joint_pos_rad)
        np.testing.assert_allclose([j.kp_nm_per_rad for j in c.joints], go2.kp_nm_per_rad)
        np.testing.assert_allclose([j.kd_nm_s_per_rad for j in c.joints], go2.kd_nm_s_per_rad)
        np.testing.assert_allclose([j.torque_limit_nm for j in c.joints], go2.torque_limits_nm)
        assert Contract.from_json(c.to_json()) == c
        obs, _ = env.reset(seed=1)
        action = np.full((3, 12), 0.2)
        obs, *_ = env.step(action)
        state = env.robot_state()
        sl = c.observation_slices()
        scale = {t.name: t.scale for t in c.observations}
        np.testing.assert_allclose(obs[:, sl["velocity_command"]], env.current_command(), atol=1e-6)
        gravity = -quat_to_rotmat(state.base_quat_wxyz)[:, 2, :]
        np.testing.assert_allclose(obs[:, sl["projected_gravity"]], gravity, atol=1e-6)
        rel = state.joint_pos_rad - np.asarray(go2.default_joint_pos_rad)
        np.testing.assert_allclose(obs[:, sl["joint_pos_rel_default_rad"]], rel, atol=1e-6)
        np.testing.assert_allclose(
            obs[:, sl["joint_vel_rad_s"]],
            state.joint_vel_rad_s * scale["joint_vel_rad_s"],
            rtol=1e-5,
            atol=1e-5,
        )
        np.testing.assert_allclose(
            obs[:, sl["angular_velocity_rad_s"]], state.base_ang_vel_rad_s * 0.25, rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(obs[:, sl["previous_action"]], action, atol=1e-6)
        assert env.privileged_observation().shape == (3, PRIVILEGED_SIZE)
    finally:
        env.close()


def test_rewards_are_named_and_a_fall_ends_the_episode():
    env = QuadrupedWalkEnv(2, randomization=None, seed=0, autoreset=False)
    try:
        env.reset(seed=0)
        env.engine.kick_base(np.array([1]), np.array([[0.0, 0.0, -3.0]]))  # slam env 1 into the ground
        info = {}
        fell_any = np.zeros(2, dtype=bool)
        for _ in range(25):
            _, _, fell, _, info = env.step(np.array([[0.0] * 12, [-5.0, 5.0, 5.0] * 4]))
            fell_any |= fell
        assert set(info["reward_terms"]) == set(env.config.rewards)
        assert fell_any[1] and not fell_any[0]
        assert env.finished[1] and not env.finished[0]
    finally:
        env.close()


# -- training, export and evaluation of the exported file ----------------------------------------------


def test_tiny_training_exports_a_policy_that_tether_eval_runs(tmp_path: Path):
    cfg = TrainConfig.from_yaml(default_config_path(TASK)).with_overrides(
        env={"num_envs": 8},
        runner={"num_steps_per_env": 8, "save_interval": 1, "torch_threads": 1},
        algorithm={"num_mini_batches": 2, "num_learning_epochs": 1},
        policy={"actor_hidden_dims": [32, 32], "critic_hidden_dims": [32, 32]},
        validation={"episodes": 2, "interval": 1},
    )
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(cfg.to_yaml())
    run = tmp_path / "run"
    ckpt = train(TASK, run, config_path, seed=0, max_iterations=2, progress=False)
    assert ckpt.name == "model_2.pt"
    # the best checkpoint is ranked by the walking gate's figures (worst ratio to a threshold)
    record = yaml.safe_load((run / "best.yaml").read_text())
    scores = [WalkValidationScore(**h) for h in record["history"]]
    assert [s.iteration for s in scores] == [1, 2] and (run / "model_best.pt").is_file()
    assert record["best"]["iteration"] == max(scores, key=lambda s: s.key()).iteration
    for s in scores:
        g = s.gate
        assert s.gate_ratio() == max(s.fall_rate / g["max_fall_rate"], s.lin_vel_err_m_s_mean / g[
            "max_lin_vel_err_m_s"], s.yaw_rate_err_rad_s_mean / g["max_yaw_rate_err_rad_s"])
    # resuming reads the walking scores back from the checkpoint
    train(TASK, run, seed=0, max_iterations=3, resume=True, progress=False)
    record = yaml.safe_load((run / "best.yaml").read_text())
    assert [h["iteration"] for h in record["history"]] == [1, 2, 3]
    onnx_path = export(run, tmp_path / "walk.onnx", parity_envs=2, parity_steps=10)
    policy = PolicyFile(onnx_path)
    assert policy.contract.task == TASK and policy.contract.action_target_names == JOINT_NAMES
    report = evaluate_walk(policy_factory(onnx_path), "walk.onnx", episodes=2, randomize=True, progress=False)
    assert report["episodes"] == 2 and [e["episode_index"] for e in report["per_episode"]] == [0, 1]
    assert report["fall_rate"] == sum(e["fell"] for e in report["per_episode"]) / 2

    out = tmp_path / "eval.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "eval",
            "--task",
            TASK,
            "--policy",
            str(onnx_path),
            "--engine",
            "mujoco",
            "--episodes",
            "2",
            "--randomize",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    for key in (
        "task",
        "engine",
        "controller",
        "episodes",
        "seed",
        "randomize",
        "success_rate",
        "fall_rate",
        "crash_rate",
        "lin_vel_err_m_s_mean",
        "yaw_rate_err_rad_s_mean",
        "gate_passed",
        "wall_time_s",
    ):
        assert key in data
    assert (
        data["per_episode"][1]["episode_index"] == 1
        and "trunk_mass_kg" in data["per_episode"][1]["sample"]["params"]
    )


def test_stand_baseline_from_the_command_line(tmp_path: Path):
    out = tmp_path / "stand.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "eval",
            "--task",
            TASK,
            "--controller",
            "stand",
            "--episodes",
            "3",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["controller"] == "stand" and report["fall_rate"] == 0.0  # nominal robot, no pushes
    # standing still while asked to walk: the error is the command's own size
    assert 0.2 < report["lin_vel_err_m_s_mean"] < 1.2 and report["gate_passed"] is False
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "eval",
            "--task",
            TASK,
            "--controller",
            "pid",
            "--episodes",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--controller stand" in bad.stderr


def test_mujoco_model_compiles_to_the_joint_order_the_engine_promises(go2):
    m = build_model(go2, PHYSICS_DT_S)
    order = [m.joint(j).name for j in range(1, m.njnt)]
    assert order == list(JOINT_NAMES)
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE


def test_a_config_with_an_unknown_reward_term_is_refused_naming_it():
    d = WalkConfig.from_yaml().source
    bad = {**d, "rewards": {**d["rewards"], "feet_air_tme": 1.0}}
    with pytest.raises(ValueError, match=r"unknown reward terms \['feet_air_tme'\]; known: .*feet_air_time"):
        WalkConfig.from_dict(bad)


SHIPPED_WALK_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quadruped_walk.onnx"
WALK_GATE_EPISODES = 200


@pytest.mark.skipif(
    not SHIPPED_WALK_POLICY.exists(),
    reason=f"{SHIPPED_WALK_POLICY} is absent: produce it with the README's walking training command",
)
@pytest.mark.parametrize("seed", [0, 23])
def test_shipped_walking_policy_passes_the_gate(seed):
    report = evaluate_walk(
        policy_factory(SHIPPED_WALK_POLICY), "quadruped_walk.onnx", episodes=WALK_GATE_EPISODES, seed=seed,
        randomize=True, progress=False,
    )  # fmt: skip
    figures = {k: report[k] for k in ("fall_rate", "lin_vel_err_m_s_mean", "yaw_rate_err_rad_s_mean")}
    assert report["gate_passed"], f"eval seed {seed}: {figures}, gate {report['gate']}"
