"""The nominal control cycle as one compiled call: from a driving sensor's bytes to the stored
sample, and from the stored inputs to the actuator command, when nothing is wrong.

Why: a cycle of the Python runtime is a few hundred small interpreter steps, each cheap, but on a
robot computer the cycle runs once per period with caches the rest of the machine has cooled:
≈ 100 µs p50 and ≈ 160 µs p99 paced at 500 Hz for the hover policy on the 2-core x86_64 build
machine, against ≈ 40 µs for the same steps run hot. The compiled pieces (sensor decoders,
observation, policy) already cost a few µs each; what is left is the Python between them. Here the
whole nominal path is one C call per arrival and one per cycle (compiled_cycle.c).

What it does, and when it declines:
- arrive(): a sensor's sample (odometry, IMU, joint states) as its CDR bytes: decoded and checked
  as deploy/transport/compiled_decode.py does (a JointState's names in Python, once while their
  bytes repeat), its stamp judged by judge_stamp's rules, stored. A sample it does not accept (any
  check, any stamp rule, a name twice, a contract joint missing) changes nothing: the caller takes
  the Python way, which refuses or stores it with its named reason.
- step(): a RUNNING cycle when every required input is present, accepted and fresh by arrival and
  by stamp, the assembled state is within every limit and the deadline-miss streak is under its
  limit: the observation, the policy, the rate limiter, the final guard and the actuator map. In
  any other case it declines before anything moves, and the Runtime runs its Python cycle, which
  names every fault. A non-finite policy action (after the observation and the policy ran, as in
  Python) is handed back for the Runtime to fail safe on.

It is the same cycle, not a second definition: the C does the Python path's operations in its
order, on doubles, compiled with the compiled policy's flags (no FMA contraction, ISO float
semantics), reading and writing the Runtime's own buffers: the StateAssembler's state (which the
compiled observation is bound to), the compiled policy's action, the CommandLimiter's previous
command. The input store stays the one place inputs live: the C keeps a mirror of the values the
cycle reads (InputMirror), which the store updates on every put, and a sample the C accepted
reaches the store's Python view before anything reads it (InputStore flushes on access).
tests/test_compiled_cycle.py runs random input sequences, faults among them, through a Runtime
with and without it and requires identical commands, states and faults.

Used where the observation and policy run compiled (runtime.yaml `inference:`; `cycle: python`
turns it off). Build safety as for the compiled policy: fixed source, private directory, fixed
flags; one library per Runtime (its static variables hold that Runtime's buffers).
"""

from __future__ import annotations

import ctypes
import math
import shutil
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deploy.runtime.compiled_observation import CompiledObservation
from deploy.runtime.compiled_policy import (
    CompiledInferenceError,
    CompiledPolicy,
    build_library,
    compiler_command,
)
from deploy.runtime.input_store import Command, Imu, JointStates, Odometry, read_only_copy
from deploy.transport.cdr import JointStateDecoder

if TYPE_CHECKING:
    from deploy.runtime.runtime import Runtime

SOURCE = Path(__file__).with_name("compiled_cycle.c")
DECODER_SOURCE = Path(__file__).parents[1] / "transport" / "sensor_decode.c"
C_PREFIX = "tether_cycle"
#: The mirror's input slots, in compiled_cycle.c's order.
SLOTS = ("odometry", "imu", "joint_states", "command")
#: tether_cycle_step's answers.
NOMINAL, DECLINED, NONFINITE_ACTION, GUARD = 0, 1, 2, 3
#: The most joints a JointState the C stores may name (a message naming more takes the Python way).
JOINTS_RAW_CAP = 256


class InputMirror:
    """The values of the inputs the cycle reads, as flat arrays the C reads and writes: per slot
    whether a good sample is stored (`present`), whether the newest message was refused or its
    layout cannot be used (`fault`), its arrival (runtime clock, s), its own stamp (NaN: none), the
    input's previous stamp for the ordering rule, its limits (+inf: none), and its values
    (odometry: position, attitude w x y z, linear velocity, angular velocity; IMU: attitude,
    angular velocity, acceleration; joints: positions then velocities in the contract's order;
    command: its values). `pending` counts samples the C accepted that the store's Python view has
    not taken yet."""

    def __init__(self, joints: tuple[str, ...], command_size: int) -> None:
        self.joints = joints
        self.command_size = command_size
        n = len(SLOTS)
        self.present = np.zeros(n, dtype=np.int32)
        self.fault = np.zeros(n, dtype=np.int32)
        self.arrival_s = np.zeros(n)
        self.header_s = np.full(n, np.nan)
        self.previous_s = np.full(n, np.nan)
        self.max_age_s = np.full(n, np.inf)
        self.stamp_max_age_s = np.full(n, np.inf)
        self.age_max_s = np.zeros(n)  # the oldest sample a policy cycle ran on, per required slot
        self.pending = np.zeros(n, dtype=np.int64)
        self.pending_unstamped = np.zeros(n, dtype=np.int64)
        self._sizes = sizes = (13, 10, 2 * len(joints), command_size)
        self.value_at = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
        self.values = np.zeros(int(sum(sizes)))
        self._slot = {name: k for k, name in enumerate(SLOTS)}
        self._layout: tuple[str, ...] | None = None
        self._columns = np.zeros(0, dtype=np.int64)  # int64: the C reads them as int64_t
        #: The newest JointState the C accepted, in the message's order (positions then velocities),
        #: its number of joints, and its names (set by the caller with the sample).
        self.joints_raw = np.zeros(2 * JOINTS_RAW_CAP)
        self.joints_raw_count = np.zeros(1, dtype=np.int32)
        self.joint_names: tuple[str, ...] = ()

    def slot(self, name: str) -> int | None:
        return self._slot.get(name)

    def view(self, name: str) -> np.ndarray:
        k = self._slot[name]
        return self.values[self.value_at[k] : self.value_at[k] + self._sizes[k]]

    def write(
        self,
        name: str,
        sample: object | None,
        refused: bool,
        previous_stamp_s: float | None,
    ) -> None:
        """The store's state of input `name` (its newest good Sample, whether the newest message
        was refused, its previous stamp), as the cycle reads it."""
        k = self._slot.get(name)
        if k is None:
            return
        self.previous_s[k] = math.nan if previous_stamp_s is None else previous_stamp_s
        if sample is None:
            self.present[k], self.fault[k] = 0, int(refused)
            return
        usable = self._values(name, sample.value)  # type: ignore[attr-defined]
        self.present[k] = 1
        self.fault[k] = int(refused or not usable)
        self.arrival_s[k] = sample.stamp_s  # type: ignore[attr-defined]
        header = sample.header_stamp_s  # type: ignore[attr-defined]
        self.header_s[k] = math.nan if header is None else header

    def _values(self, name: str, value: object) -> bool:
        """Copy a stored payload's values into its slot; False when the cycle cannot use them."""
        out = self.view(name)
        if isinstance(value, Odometry):
            out[0:3], out[3:7], out[7:10], out[10:13] = (
                value.pos_m, value.quat_wxyz, value.lin_vel_m_s, value.ang_vel_rad_s,
            )  # fmt: skip
            return True
        if isinstance(value, Imu):
            out[0:4], out[4:7], out[7:10] = value.quat_wxyz, value.ang_vel_rad_s, value.lin_acc_m_s2
            return True
        if isinstance(value, JointStates):
            columns = self.columns(value.names)
            if columns is None:
                return False
            j = len(self.joints)
            value.pos_rad.take(columns, out=out[:j], mode="clip")
            value.vel_rad_s.take(columns, out=out[j:], mode="clip")
            return True
        v = np.asarray(value.value if isinstance(value, Command) else value, dtype=np.float64)
        if v.shape != (self.command_size,):
            return False
        out[:] = v
        return True

    def columns(self, names: tuple[str, ...]) -> np.ndarray | None:
        """Where each of the contract's joints is among `names` (cached for the last layout seen), or
        None when one is missing."""
        if names is not self._layout and names != self._layout:
            index = {n: k for k, n in enumerate(names)}
            if any(n not in index for n in self.joints):
                return None
            self._layout = names
            self._columns = np.array([index[n] for n in self.joints], dtype=np.int64)
        return self._columns

    def taken(self, name: str) -> tuple[object, float, float | None, int, int] | None:
        """The newest sample the C accepted for `name` that the store has not taken: (payload,
        arrival, own stamp or None, samples accepted, of them unstamped), and forgets them; None
        when there is none."""
        k = self._slot[name]
        n = int(self.pending[k])
        if n == 0:
            return None
        unstamped = int(self.pending_unstamped[k])
        self.pending[k] = self.pending_unstamped[k] = 0
        payload: Odometry | Imu | JointStates
        if name == "joint_states":
            raw = self.joints_raw[: 2 * int(self.joints_raw_count[0])]
            payload = JointStates.of_checked_values(self.joint_names, read_only_copy(raw))
        elif name == "odometry":
            payload = Odometry.of_checked_values(read_only_copy(self.view(name)))
        else:
            payload = Imu.of_checked_values(read_only_copy(self.view(name)))
        header = float(self.header_s[k])
        return payload, float(self.arrival_s[k]), None if math.isnan(header) else header, n, unstamped


class CompiledCycle:
    """One Runtime's nominal cycle in C (see the module docstring). Raises CompiledInferenceError
    when it cannot be built here; the Runtime then runs its Python cycle."""

    def __init__(self, runtime: Runtime) -> None:
        runner = runtime.runner
        observation, policy = runner.builder, runner.bound
        compiled = isinstance(observation, CompiledObservation) and isinstance(policy, CompiledPolicy)
        if not compiled:
            raise CompiledInferenceError(
                f"the observation ({runner.observation_engine}) and the policy ({runner.inference_engine}) "
                "must both run compiled"
            )
        self.observation, self.policy = observation, policy
        contract, assembler, limiter = runtime.contract, runtime.assembler, runtime.limiter
        self.mirror = mirror = InputMirror(assembler.joints, contract.command_size)
        for name, spec in runtime.inputs.specs.items():
            k = mirror.slot(name)
            if k is not None:
                mirror.max_age_s[k] = math.inf if spec.max_age_s is None else spec.max_age_s
                mirror.stamp_max_age_s[k] = math.inf if spec.stamp_max_age_s is None else spec.stamp_max_age_s
        required = [int(name in runtime.required) for name in SLOTS]
        if any(n not in SLOTS for n in runtime.required):
            raise CompiledInferenceError(f"required inputs {runtime.required} include one it does not read")
        self.required_slots = [(name, mirror.slot(name)) for name in runtime.required]
        cc = compiler_command()
        build_dir = Path(tempfile.mkdtemp(prefix="tether-cycle-"))  # 0700, fresh name
        try:
            shutil.copyfile(SOURCE, build_dir / SOURCE.name)
            shutil.copyfile(DECODER_SOURCE, build_dir / DECODER_SOURCE.name)
            self._lib = build_library(cc, build_dir, SOURCE.name, "the compiled cycle")
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        # the state the observation reads: bound to the assembler's arrays, written in place by the C
        state = assembler.state
        self.observation.bind(state, self.policy.obs)
        checker = runtime.limit_checker
        fence = checker.geofence_m
        tol = runtime.inputs.future_tolerance_s
        self._limits = np.array(  # NaN: no tilt limit, no geofence
            [
                math.inf if tol is None else tol,
                math.nan if checker.cos_tilt_limit is None else checker.cos_tilt_limit,
                *([lo for lo, _ in fence] if fence else [math.nan] * 3),
                *([hi for _, hi in fence] if fence else [math.nan] * 3),
            ]
        )
        joint_limits = runtime.profile.limits.joint_limits_rad or {}
        self._joint_lo = np.array([joint_limits.get(n, (-math.inf, math.inf))[0] for n in assembler.joints])
        self._joint_hi = np.array([joint_limits.get(n, (-math.inf, math.inf))[1] for n in assembler.joints])
        self._max_step = limiter.max_step.astype(np.float64)
        self.action = np.zeros(contract.action_size)  # the command, action units, contract order
        self.actuator = np.zeros(contract.action_size)  # the command, actuator units, profile order
        self._to_profile = np.asarray(runtime.actuator_map.to_profile, dtype=np.int32)
        self._offset = np.ascontiguousarray(runtime.actuator_map.offset, dtype=np.float64)
        self._scale = np.ascontiguousarray(runtime.actuator_map.scale, dtype=np.float64)
        i32, i64, f32, f64 = np.int32, np.int64, np.float32, np.float64
        keep = [  # in tether_cycle_bind's order, each with the element type the C reads
            (mirror.present, i32), (mirror.fault, i32), (mirror.arrival_s, f64), (mirror.header_s, f64),
            (mirror.previous_s, f64), (mirror.max_age_s, f64), (mirror.stamp_max_age_s, f64),
            (mirror.age_max_s, f64), (mirror.values, f64), (mirror.pending, i64),
            (mirror.pending_unstamped, i64), (self._limits, f64), (self._joint_lo, f64),
            (self._joint_hi, f64), (state.base_pos_m, f64), (state.base_quat_wxyz, f64),
            (state.base_lin_vel_m_s, f64), (state.base_ang_vel_rad_s, f64), (state.last_action, f64),
            (state.command, f64), (state.joint_pos_rad, f64), (state.joint_vel_rad_s, f64),
            (state.time_s, f64), (self.policy.action, f32), (limiter.previous_view, f64),
            (limiter.low, f64), (limiter.high, f64), (self._max_step, f64), (self._offset, f64),
            (self._scale, f64), (self.action, f64), (self.actuator, f64), (self._to_profile, i32),
            (mirror.joints_raw, f64), (mirror.joints_raw_count, i32),
        ]  # fmt: skip
        for k, (a, dtype) in enumerate(keep):
            if not (a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable):
                raise CompiledInferenceError(
                    f"buffer {k} of the cycle must be a writable C-contiguous {np.dtype(dtype).name} array, "
                    f"found {a.dtype.name} (contiguous {a.flags.c_contiguous}, writable {a.flags.writeable})"
                )
        self._keep = [a for a, _ in keep]  # the C holds their addresses
        obs_fn, act_fn = self.observation.build_address, self.policy.run_address
        pointers = (ctypes.c_void_p * (len(keep) + 2))(*[a.ctypes.data for a in self._keep], obs_fn, act_fn)
        a_size = contract.action_size
        ints = np.array(
            [
                a_size, contract.command_size, len(assembler.joints), int(assembler.attitude_from_imu),
                int(runtime.action_bounds_finite), runtime.max_miss_streak, *required, *mirror.value_at,
                JOINTS_RAW_CAP,
            ],
            dtype=np.int32,
        )  # fmt: skip
        bind = self._lib[f"{C_PREFIX}_bind"]
        bind.argtypes, bind.restype = [ctypes.c_void_p, ctypes.c_void_p], None
        bind(pointers, ints.ctypes.data)
        self._ints = ints
        self._step = self._lib[f"{C_PREFIX}_step"]
        self._step.argtypes = [ctypes.c_double, ctypes.c_double, ctypes.c_int32]
        self._step.restype = ctypes.c_int
        self._arrive = self._lib[f"{C_PREFIX}_arrive"]
        self._arrive.argtypes = [
            ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_double, ctypes.c_double,
            ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_uint32),
        ]  # fmt: skip
        self._arrive.restype = ctypes.c_int
        self._arrive_joints = self._lib[f"{C_PREFIX}_arrive_joints"]
        self._arrive_joints.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p,
            ctypes.c_double, ctypes.c_double, ctypes.c_int32, ctypes.c_uint32,
        ]  # fmt: skip
        self._arrive_joints.restype = ctypes.c_int
        self._joint_names = JointStateDecoder()  # the names, decoded once while their bytes repeat
        self._columns: np.ndarray | None = None  # the columns the C was last handed, and their address
        self._columns_at = 0
        self._sec, self._nanosec = ctypes.c_int32(), ctypes.c_uint32()
        self._sec_ref, self._nanosec_ref = ctypes.byref(self._sec), ctypes.byref(self._nanosec)

    def arrive(
        self, name: str, data: bytes, now_s: float, clock_now_s: float | None
    ) -> tuple[int, int] | None:
        """Store a sensor's sample from its CDR bytes: its stamp (sec, nanosec), or None when the C
        does not accept it (nothing changed: the Python way refuses or stores it)."""
        k = self.mirror.slot(name)
        if k is None or type(data) is not bytes:
            return None
        clock = math.nan if clock_now_s is None else clock_now_s
        if name == "joint_states":
            return self._arrive_joint_states(data, now_s, clock)
        if self._arrive(k, data, len(data), now_s, clock, self._sec_ref, self._nanosec_ref):
            return None
        return self._sec.value, self._nanosec.value

    def _arrive_joint_states(self, data: bytes, now_s: float, clock: float) -> tuple[int, int] | None:
        """arrive() of a JointState: the names read here (once while their bytes repeat), the rest in C."""
        try:
            sec, nanosec, names, unique, at = self._joint_names.names(data)
        except (ValueError, struct.error):
            return None
        mirror = self.mirror
        columns = mirror.columns(names) if unique else None
        if columns is None:  # a name twice, a joint missing: the Python way names it
            return None
        if columns is not self._columns:
            self._columns, self._columns_at = columns, columns.ctypes.data
        if self._arrive_joints(data, len(data), at, len(names), self._columns_at, now_s, clock, sec, nanosec):
            return None
        mirror.joint_names = names
        return sec, nanosec

    def step(self, now_s: float, clock_now_s: float | None, miss_streak: int) -> int:
        """One RUNNING cycle (NOMINAL, DECLINED, NONFINITE_ACTION or GUARD; see the module docstring)."""
        return self._step(now_s, math.nan if clock_now_s is None else clock_now_s, miss_streak)

    def usable(self, runtime: Runtime) -> bool:
        """Whether the runtime still runs the observation and policy this cycle was built on."""
        return runtime.runner.builder is self.observation and runtime.runner.bound is self.policy
