"""Each choice of the lean batch-of-one cycle timed alone, against what it replaced, in one run.

In-process `timeit`, best of --repeats, on the objects the policy node uses (hover: the hover
task's contract, a random-weight MLP of its shape; walk: the shipped walking policy). Tight loops:
warm caches, so each figure is the code's own cost, a lower bound for a paced cycle
(`tether bench loop` measures those), and robust enough on a busy machine when both sides of a
row are taken back to back. The inference-engine rows add the median of calls paced at 500 Hz
(a sleep before each call, as in the control cycle), where ONNX Runtime's longer code path is cold.

Run: `tether bench cycle-choices [--repeats 9]`.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from bench.sim_throughput import machine_description
from deploy.contract import Contract
from deploy.observations import ObservationBuilder
from deploy.policy_file import PolicyFile
from deploy.robot_state import RobotState
from deploy.runtime.command_limiter import CommandLimiter
from deploy.runtime.compiled_observation import CompiledObservation
from deploy.runtime.compiled_policy import CompiledInferenceError, CompiledPolicy
from deploy.runtime.fast_observation import BatchOneObservation
from deploy.runtime.input_store import Command, Imu, JointStates, Odometry, Sample
from deploy.runtime.limits import LimitChecker, limit_faults
from deploy.runtime.robot_profile import PROFILE_DIR, RobotProfile
from deploy.runtime.stage_times import STAGES, StageTimes
from deploy.runtime.state_assembly import StateAssembler

ROOT = Path(__file__).resolve().parents[1]
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"
T = TypeVar("T")
PACED_PERIOD_S = 0.002  # the paced inference rows: one call per 2 ms (500 Hz)


def _best_us(fn: Callable[[], object], repeats: int, number: int = 2000) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6


def _paced_p50_us(fn: Callable[[], object], calls: int = 1000) -> float:
    """Median µs of `fn` called once per PACED_PERIOD_S with a sleep in between, as the control
    cycle calls inference (caches cold after the sleep; not a best-of figure)."""
    times = np.empty(calls)
    deadline = time.perf_counter()
    for k in range(calls):
        deadline += PACED_PERIOD_S
        time.sleep(max(0.0, deadline - time.perf_counter()))
        t0 = time.perf_counter_ns()
        fn()
        times[k] = time.perf_counter_ns() - t0
    return float(np.median(times)) / 1e3


def _compiled(build: Callable[[], T], what: str) -> T | None:
    """`build()` (a compiled policy or observation), or None, said once, where it cannot run here."""
    try:
        return build()
    except CompiledInferenceError as exc:
        print(f"  (no compiled C rows for {what}: {exc})")
        return None


def _state(contract: Contract, rng: np.random.Generator) -> RobotState:
    j = len(contract.joints)
    q = rng.standard_normal(4)
    return RobotState(
        base_pos_m=rng.standard_normal((1, 3)),
        base_quat_wxyz=(q / np.linalg.norm(q)).reshape(1, 4),
        base_lin_vel_m_s=rng.standard_normal((1, 3)),
        base_ang_vel_rad_s=rng.standard_normal((1, 3)),
        last_action=rng.uniform(-1, 1, (1, contract.action_size)),
        command=rng.standard_normal((1, contract.command_size)),
        joint_names=tuple(d.name for d in contract.joints),
        joint_pos_rad=rng.standard_normal((1, j)),
        joint_vel_rad_s=rng.standard_normal((1, j)),
        time_s=np.zeros(1),
        joint_default_pos_rad=rng.standard_normal((1, j)),
    )


def _samples(contract: Contract, joints: tuple[str, ...], profile: RobotProfile) -> dict[str, Sample]:
    """Inputs of a robot within its limits (joints mid-range, in another order than the contract's)."""
    unit = np.array([1.0, 0.0, 0.0, 0.0])
    out = {
        "odometry": Sample(Odometry(np.zeros(3), unit, np.zeros(3), np.zeros(3)).checked(), 0.0),
        "imu": Sample(Imu(unit, np.zeros(3)).checked(), 0.0),
        "command": Sample(Command(np.zeros(contract.command_size)).checked(), 0.0),
    }
    if joints:
        names = tuple(reversed(joints))
        limits = profile.limits.joint_limits_rad
        mid = np.array([sum(limits[n]) / 2 if n in limits else 0.0 for n in names])
        js = JointStates(names, mid, np.zeros(len(names)))
        out["joint_states"] = Sample(js.checked(), 0.0)
    return out


def _input_rows(repeats: int) -> list[tuple[str, str, float, str, float]]:
    """A legged robot's inputs from DDS bytes to the checked payload the store keeps: cyclonedds'
    deserializer, the message conversion and checked() (what the node did) against the hand
    decoders and the check on floats (deploy/transport/cdr.py, Odometry/Imu/JointStates.of_floats)."""
    from deploy.transport import convert, messages
    from deploy.transport.cdr import JointStateDecoder, decode_imu, decode_odometry

    t = time.time()
    joints = [f"{leg}_{j}_joint" for leg in ("FL", "FR", "RL", "RR") for j in ("hip", "thigh", "calf")]
    js = convert.joint_states_msg(messages.make, t, joints, np.linspace(-1, 1, 12), np.zeros(12)).serialize()
    imu = convert.imu_msg(messages.make, t, np.array([1.0, 0, 0, 0]), np.zeros(3), np.array([0, 0, 9.8]))
    imu_b = imu.serialize()
    odo = convert.odometry_msg(
        messages.make, t, np.array([0, 0, 2.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3)
    ).serialize()
    decoder = JointStateDecoder()

    def js_old() -> object:
        return convert.joint_states_from_msg(messages.deserialize(js, "sensor_msgs/msg/JointState")).checked()

    def js_new() -> object:
        _, _, names, pos, vel = decoder.decode(js)
        return convert.joint_states_from_values(names, pos, vel).checked()

    def imu_old() -> object:
        return convert.imu_from_msg(messages.deserialize(imu_b, "sensor_msgs/msg/Imu")).checked()

    def imu_new() -> object:
        _, _, q, w, a = decode_imu(imu_b)
        return convert.imu_from_values(q, w, a).checked()

    def odo_old() -> object:  # the odometry path before its payload was checked on the floats
        _, _, pose, twist = decode_odometry(odo)
        px, py, pz, qx, qy, qz, qw = map(float, pose)
        vx, vy, vz, wx, wy, wz = map(float, twist)
        lin = convert._body_to_world(qw, qx, qy, qz, vx, vy, vz)
        return Odometry(np.array((px, py, pz)), np.array((qw, qx, qy, qz)), np.array(lin),
                        np.array((wx, wy, wz))).checked()  # fmt: skip

    def odo_new() -> object:
        _, _, pose, twist = decode_odometry(odo)
        return convert.odometry_from_values(pose, twist).checked()

    out = [
        ("joint_states bytes → payload, 12", "deserialize + convert + check", _best_us(js_old, repeats, 500),
         "JointStateDecoder + of_floats", _best_us(js_new, repeats, 500)),
        ("imu bytes → payload", "deserialize + convert + check", _best_us(imu_old, repeats, 500),
         "decode_imu + of_floats", _best_us(imu_new, repeats, 500)),
        ("odometry bytes → payload", "decode + arrays + check", _best_us(odo_old, repeats, 500),
         "decode + of_floats", _best_us(odo_new, repeats, 500)),
    ]  # fmt: skip
    from deploy.transport.compiled_decode import CompiledDecoders, _library

    decoders = CompiledDecoders.load()
    if decoders is None:
        print(f"  (no compiled decoding rows: {_library()[1]})")
        return out
    for what, data, python, compiled in (
        ("joint_states", js, js_new, decoders.joint_states),
        ("imu", imu_b, imu_new, decoders.imu),
        ("odometry", odo, odo_new, decoders.odometry),
    ):
        out.append((f"  same, compiled C, {what}", "Python (the row above)", _best_us(python, repeats, 500),
                    "CompiledDecoders", _best_us(lambda f=compiled, d=data: f(d), repeats, 500)))  # fmt: skip
    return out


def rows(repeats: int) -> list[tuple[str, str, float, str, float]]:
    """(choice, before, µs, after, µs) per row."""
    from sim.tasks.quadrotor_hover import HoverConfig
    from training.random_policy import write_random_policy

    rng = np.random.default_rng(0)
    hover = HoverConfig.from_yaml().contract()
    walk_file = PolicyFile(WALK_POLICY)
    walk = walk_file.contract
    out: list[tuple[str, str, float, str, float]] = []

    def row(choice: str, before: str, fb: Callable[[], object], after: str, fa: Callable[[], object]) -> None:
        out.append((choice, before, _best_us(fb, repeats), after, _best_us(fa, repeats)))

    for name, contract in (("hover", hover), ("walk", walk)):
        state = _state(contract, rng)
        buf = np.zeros((1, contract.observation_size), dtype=np.float32)
        shared, fast = ObservationBuilder(contract, 1), BatchOneObservation(contract)
        row(
            f"observation, {name} ({contract.observation_size} values)",
            "ObservationBuilder.build",
            lambda s=shared, st=state, b=buf: s.build(st, out=b),
            "BatchOneObservation.build",
            lambda f=fast, st=state, b=buf: f.build(st, out=b),
        )
        compiled_obs = _compiled(lambda c=contract: CompiledObservation(c), f"the {name} observation")
        if compiled_obs is not None:
            row(
                f"  same, compiled C, {name}",
                "BatchOneObservation.build",
                lambda f=fast, st=state, b=buf: f.build(st, out=b),
                "CompiledObservation.build",
                lambda c=compiled_obs, st=state, b=buf: c.build(st, out=b),
            )
            paced = f"    same, paced {1 / PACED_PERIOD_S:g} Hz, p50"
            floats_us = _paced_p50_us(lambda f=fast, st=state, b=buf: f.build(st, out=b))
            compiled_us = _paced_p50_us(lambda c=compiled_obs, st=state, b=buf: c.build(st, out=b))
            out.append(
                (paced, "BatchOneObservation.build", floats_us, "CompiledObservation.build", compiled_us)
            )
    out += _input_rows(repeats)
    for name, contract, profile in (
        ("hover", hover, "profile_crazyflie_2_1.yaml"),
        ("walk", walk, "profile_go2.yaml"),
    ):
        prof = RobotProfile.from_yaml(PROFILE_DIR / profile)
        fresh, in_place = StateAssembler(contract, prof), StateAssembler(contract, prof, reuse=True)
        samples, last = _samples(contract, fresh.joints, prof), np.zeros(contract.action_size)
        row(
            f"state assembly, {name}",
            "fresh arrays",
            lambda a=fresh, s=samples, la=last: a.assemble(s, 1.0, la),
            "in place",
            lambda a=in_place, s=samples, la=last: a.assemble(s, 1.0, la),
        )
        state = in_place.assemble(samples, 1.0, last).state
        assert state is not None and not limit_faults(state, prof.limits)  # the usual case: within all
        checker = LimitChecker(prof.limits)
        row(
            f"limit checks, {name}",
            "limit_faults",
            lambda st=state, lim=prof.limits: limit_faults(st, lim),
            "LimitChecker.faults",
            lambda c=checker, st=state: c.faults(st),
        )
    limiter = CommandLimiter(walk, {t.name: 5.0 for t in walk.actions}, walk.control_dt_s)
    action = rng.uniform(-0.01, 0.01, walk.action_size)
    values = action.tolist()
    row(
        "limiter, 12 actions",
        "CommandLimiter.limit (NumPy)",
        lambda: limiter.limit(action),
        "limit_values (floats)",
        lambda: limiter.limit_values(values),
    )
    src, cols = rng.standard_normal(12), np.arange(12)[::-1].copy()
    dst = np.zeros((1, 12))
    dst_row = dst[0]
    row(
        "joint gather, 12 joints",
        "np.take(src, cols, out=row)",
        lambda: np.take(src, cols, out=dst_row),
        'src.take(cols, out=row, mode="clip")',
        lambda: src.take(cols, out=dst_row, mode="clip"),
    )
    floats = rng.standard_normal(85).tolist()
    obs = np.zeros((1, 85), dtype=np.float32)
    pack = struct.Struct("=85f").pack_into
    row(
        "85 floats into a float32 row",
        "row[0] = list",
        lambda: obs.__setitem__(0, floats),
        "struct pack_into",
        lambda: pack(obs, 0, *floats),
    )
    xs = (rng.standard_normal(45) * 200).tolist()
    s, lo, hi = 0.25, -100.0, 100.0
    row(
        "scale and clip, 45 floats",
        "min(max(x * s, lo), hi)",
        lambda: [min(max(x * s, lo), hi) for x in xs],
        "comparisons",
        lambda: [lo if y < lo else hi if y > hi else y for y in [x * s for x in xs]],
    )
    with tempfile.TemporaryDirectory() as tmp:
        mlp = PolicyFile(write_random_policy(Path(tmp) / "random_mlp.onnx", hover))
        for name, policy in (("hover MLP", mlp), ("walk", walk_file)):
            bound = policy.bind(1)
            session, binding = policy.session, bound._binding
            row(
                f"ONNX Runtime call, {name}",
                "InferenceSession.run_with_iobinding",
                lambda se=session, b=binding: se.run_with_iobinding(b),
                "the C++ session method (BoundPolicy)",
                bound._run,
            )
            compiled = _compiled(lambda p=policy: CompiledPolicy(p, p.path.read_bytes()), policy.path.name)
            if compiled is not None:
                for b in (bound, compiled):
                    b.obs[:] = rng.standard_normal(b.obs.shape)
                row(f"ORT vs compiled C, {name}", "BoundPolicy.run", bound.run,
                    "CompiledPolicy.run (ctypes)", compiled.run)  # fmt: skip
                paced = f"  same, paced {1 / PACED_PERIOD_S:g} Hz, p50"
                out.append((paced, "BoundPolicy.run", _paced_p50_us(bound.run),
                            "CompiledPolicy.run (ctypes)", _paced_p50_us(compiled.run)))  # fmt: skip
    times = StageTimes(window=100_000)

    def cycle() -> None:
        times.start()
        for stage in STAGES:
            times.lap(stage)
        times.commit()

    row("stage timing, 8 laps + commit", "(none)", lambda: None, "StageTimes", cycle)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench cycle-choices", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeats", type=int, default=9, help="timeit repeats, best taken (default: %(default)s)"
    )
    args = ap.parse_args(argv)
    print(f"lean cycle choices, best of {args.repeats}, on {machine_description()}")
    for choice, before, tb, after, ta in rows(args.repeats):
        print(f"  {choice:34s} {before:38s} {tb:7.2f} µs   {after:40s} {ta:7.2f} µs   ×{tb / ta:.1f}")


if __name__ == "__main__":
    main()
