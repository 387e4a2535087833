"""The compiled observation (deploy/runtime/compiled_observation.py): the contract observation as C,
compiled at load time, gives the float path's numbers bit for bit (and so the shared builder's),
history and integrals included; it follows a state whose arrays change; the load-time check can
fail; the runner compiles it beside a compiled policy and reports which observation runs."""

from __future__ import annotations

import dataclasses
import logging
import shutil

import numpy as np
import pytest

from deploy.contract import ContractError
from deploy.observations import ObservationBuilder
from deploy.runtime import compiled_observation
from deploy.runtime.compiled_observation import CompiledObservation
from deploy.runtime.compiled_policy import CompiledInferenceError
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.fast_observation import BatchOneObservation
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import PROFILE_DIR, RobotProfile
from deploy.runtime.runtime import Runtime
from tests.test_compiled_policy import HOVER_CTBR, WALK, _config_dict
from tests.test_fast_observation import CONTRACTS, hover_contract, random_state

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler (cc/gcc) on PATH: the compiled observation needs one",
)


@pytest.fixture(autouse=True)
def _compiler(monkeypatch):
    monkeypatch.setenv("CC", "cc" if shutil.which("cc") else "gcc")


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_compiled_observation_equals_the_float_path_and_the_builder_bit_for_bit(name):
    """Random states, calm and wild (clips, the integral's anti-windup and gate, the degenerate
    quaternion), re-armed now and then; the compiled one reads the same state object throughout,
    written in place as the runtime's assembler does."""
    contract = CONTRACTS[name]()
    rng = np.random.default_rng(100 + len(name))
    compiled, floats, shared = (
        CompiledObservation(contract), BatchOneObservation(contract), ObservationBuilder(contract, 1)
    )  # fmt: skip
    state = random_state(rng, contract, 1.0)
    out = np.zeros((1, contract.observation_size), dtype=np.float32)
    clipped = 0
    for k in range(3000):
        if k % 600 == 0:
            for b in (compiled, floats, shared):
                b.reset()
        fresh = random_state(rng, contract, [0.1, 1.0, 30.0][int(rng.integers(3))])
        for f in dataclasses.fields(state):
            value = getattr(fresh, f.name)
            if isinstance(value, np.ndarray):
                getattr(state, f.name)[...] = value  # in place: the bound arrays
        got = compiled.build(state, out=out)
        assert got is out
        assert np.array_equal(_bits(got), _bits(floats.build(state)))
        assert np.array_equal(_bits(got), _bits(shared.build(state)))
        clipped += int(np.any(np.abs(got) >= 1.0))
    assert clipped > 100


def test_a_state_with_new_arrays_is_bound_anew_and_history_carries_over():
    contract = hover_contract()
    assert max(t.history for t in contract.observations) > 1
    rng = np.random.default_rng(3)
    compiled, floats = CompiledObservation(contract), BatchOneObservation(contract)
    for _ in range(30):  # a fresh state object (fresh arrays) each time, no `out`
        state = random_state(rng, contract, 0.5)
        assert np.array_equal(_bits(compiled.build(state)), _bits(floats.build(state)))


def test_a_state_the_c_cannot_read_is_refused_naming_the_problem():
    contract = hover_contract()
    compiled = CompiledObservation(contract)
    state = random_state(np.random.default_rng(0), contract, 1.0)
    bad = dataclasses.replace(state, command=np.zeros((1, contract.command_size + 1)))
    with pytest.raises(ContractError, match="command"):
        compiled.build(bad)
    f32 = dataclasses.replace(state, base_pos_m=state.base_pos_m.astype(np.float32))
    with pytest.raises(ContractError, match="base_pos_m must be a C-contiguous float64 array"):
        compiled.build(f32)
    with pytest.raises(ContractError, match="output must be a writable C-contiguous float32"):
        compiled.build(state, out=np.zeros((1, contract.observation_size)))


def test_a_compiled_observation_that_differs_from_the_float_path_is_refused(monkeypatch):
    """The load-time check can fail: the C adds one ulp's worth to every value."""
    real = compiled_observation.generate_observation_c

    def skewed(contract):
        return real(contract).replace("out[i] = (float)stacked[i];", "out[i] = (float)(stacked[i] + 1e-3);")

    monkeypatch.setattr(compiled_observation, "generate_observation_c", skewed)
    with pytest.raises(CompiledInferenceError, match="differs from the float path at step 0"):
        CompiledObservation(hover_contract())


def test_the_runner_compiles_the_observation_beside_a_compiled_policy(caplog):
    profile = RobotProfile.from_yaml(PROFILE_DIR / "profile_go2.yaml")
    engines = {}
    for engine in ("auto", "compiled", "onnxruntime"):
        runner = PolicyRunner(WALK, profile, inference=engine)
        engines[engine] = (type(runner.builder).__name__, runner.observation_engine)
    assert engines["auto"][0] == engines["compiled"][0] == "CompiledObservation"
    assert engines["auto"][1].startswith("compiled C (")
    assert engines["onnxruntime"] == ("BatchOneObservation", "python floats")
    shared = PolicyRunner(WALK, profile, inference="compiled", fast_observation=False)
    assert type(shared.builder).__name__ == "ObservationBuilder"
    assert shared.observation_engine == "shared builder"
    # back to ONNX Runtime: the float path again
    runner = PolicyRunner(WALK, profile, inference="compiled")
    runner.use_inference("onnxruntime")
    assert isinstance(runner.builder, BatchOneObservation)


def test_diagnostics_report_the_observation_engine():
    from deploy.sim_bridge import airborne_profile

    profile = airborne_profile(RobotProfile.from_yaml(PROFILE_DIR / "profile_crazyflie_2_1_px4_ctbr.yaml"))
    for engine, expected in (("auto", "compiled C ("), ("onnxruntime", "python floats")):
        cfg = RuntimeConfig.from_dict({**_config_dict(), "inference": {"engine": engine}})
        assert Runtime(PolicyRunner(HOVER_CTBR, profile), cfg).diagnostics()["observation_engine"].startswith(
            expected
        )


def test_auto_builds_the_observation_in_python_when_it_cannot_compile_it_and_compiled_refuses(
    monkeypatch, caplog
):
    def broken(contract):
        return "this is not C"

    monkeypatch.setattr(compiled_observation, "generate_observation_c", broken)
    profile = RobotProfile.from_yaml(PROFILE_DIR / "profile_go2.yaml")
    with caplog.at_level(logging.WARNING, logger="tether.runtime.policy"):
        runner = PolicyRunner(WALK, profile, inference="auto")
    assert runner.inference_engine.startswith("compiled C (")  # the policy itself still compiled
    assert runner.observation_engine == "python floats"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "building the observation of quadruped-walk in Python" in warnings[0]
    with pytest.raises(CompiledInferenceError, match="the observation of quadruped-walk cannot run compiled"):
        PolicyRunner(WALK, profile, inference="compiled")


def test_fields_the_observation_does_not_read_may_be_anything():
    """A legged contract without joint terms or drives: the state's joint arrays (from the robot
    profile) and its empty default pose are not the observation's business."""
    from deploy.contract import ActionTerm, Contract, ObservationTerm

    joints = tuple(f"j{k}" for k in range(12))
    contract = Contract(
        task="stand", robot="quadruped-test", control_rate_hz=50.0,
        observations=(ObservationTerm("angular_velocity_rad_s", 3), ObservationTerm("previous_action", 12)),
        actions=(ActionTerm("joint_position", joints, scale=1.0, offset=0.0, unit="rad"),),
        sensors=("imu", "joint_states"),
    )  # fmt: skip
    compiled, floats = CompiledObservation(contract), BatchOneObservation(contract)
    rng = np.random.default_rng(5)
    state = random_state(rng, contract, 1.0)
    state = dataclasses.replace(
        state, joint_pos_rad=np.ones((1, 12)), joint_vel_rad_s=np.ones((1, 12), np.float32),
        joint_default_pos_rad=np.zeros((1, 0)),
    )  # fmt: skip
    assert np.array_equal(_bits(compiled.build(state)), _bits(floats.build(state)))


def test_two_compiled_observations_keep_their_own_history():
    """Each instance loads its own library, so the C's static history and integrals are its own."""
    contract = hover_contract()
    rng = np.random.default_rng(9)
    pairs = [(CompiledObservation(contract), BatchOneObservation(contract)) for _ in range(2)]
    for _ in range(20):
        for compiled, floats in pairs:  # interleaved, each on its own states
            state = random_state(rng, contract, 1.0)
            assert np.array_equal(_bits(compiled.build(state)), _bits(floats.build(state)))
