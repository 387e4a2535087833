"""The driving sensors decoded and checked in compiled C, straight from their CDR bytes.

A sample's way from its bytes to the checked payload the input store keeps (deploy/transport/
cdr.py decodes, convert.py converts frames, input_store.py's of_floats checks) is a dozen Python
calls and several small tuples: ≈ 10 µs an odometry sample on the 2-core build machine, and a
multiple of that in the paced cycle, with cold caches. sensor_decode.c does it in one call per
sample (odometry, IMU, a JointState's positions and velocities) and hands back the values as one
float64 array; the payload's vectors are read-only views of it, as of_floats makes them.

Same numbers, same verdicts: the C does the Python path's floating-point operations in the same
order (compiled with the compiled policy's flags: no FMA contraction), and before use it is
checked against the Python path, bit for bit and verdict for verdict, on VERIFY_SAMPLES seeded
random messages per kind, non-finite values and off-norm quaternions among them. A sample the C
does not accept (a failed check, a layout it does not read) goes the Python way, which names the
reason. Without a C compiler, or when the check fails, decoding stays in Python (one log line
says why); `CompiledDecoders.describe` is what the policy node's diagnostics report.

The library is built once per process. One CompiledDecoders per node; its output buffers are
guarded by a lock (cheap uncontended: one receive thread delivers the samples).
"""

from __future__ import annotations

import ctypes
import logging
import math
import shutil
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np

from deploy.runtime.input_store import Imu, JointStates, Odometry, read_only_copy
from deploy.transport import convert
from deploy.transport.cdr import (
    ENCAPSULATION_LE,
    JointStateDecoder,
    decode_imu,
    decode_odometry,
)

log = logging.getLogger("tether.transport.decode")

SOURCE = Path(__file__).with_name("sensor_decode.c")
#: Seeded random messages per kind checked against the Python path before the C is used.
VERIFY_SAMPLES = 200
VERIFY_SEED = 0

_lock = threading.Lock()
_built: tuple[ctypes.CDLL | None, str] | None = None  # (library, why not) once tried


def _library() -> tuple[ctypes.CDLL | None, str]:
    """The compiled library, built and checked at the first call of the process; (None, why not)."""
    global _built
    with _lock:
        if _built is None:
            _built = _build()
            if _built[0] is None:
                log.info("sensor samples are decoded in Python: %s", _built[1])
        return _built


def _build(source: Path = SOURCE) -> tuple[ctypes.CDLL | None, str]:
    """The library of `source` (tests pass a changed copy), checked; (None, why not)."""
    # the compiled policy's compiler, flags and loader: one way to compile C in the runtime
    from deploy.runtime.compiled_policy import CompiledInferenceError, build_library, compiler_command

    build_dir = Path(tempfile.mkdtemp(prefix="tether-decode-"))
    try:
        shutil.copyfile(source, build_dir / SOURCE.name)
        lib = build_library(compiler_command(), build_dir, SOURCE.name, "the sensor decoders")
    except (CompiledInferenceError, OSError) as exc:
        return None, str(exc)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    c_uint8_p, size, out = ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_double)
    i32, u32 = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_uint32)
    for name in ("tether_odometry", "tether_imu"):
        f = getattr(lib, name)
        f.argtypes, f.restype = [c_uint8_p, size, out, i32, u32], ctypes.c_int
    lib.tether_joint_values.argtypes = [c_uint8_p, size, size, size, out]
    lib.tether_joint_values.restype = ctypes.c_int
    problem = verify(CompiledDecoders(lib))
    if problem:
        return None, f"the compiled sensor decoders disagree with the Python path ({problem})"
    return lib, ""


class CompiledDecoders:
    """odometry(), imu(), joint_states(): (sec, nanosec, checked payload) from a sample's bytes, or
    None when the sample is to take the Python path (a failed check, a layout not read here)."""

    describe = "compiled C"

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._odometry, self._imu, self._joints = lib.tether_odometry, lib.tether_imu, lib.tether_joint_values
        self._lock = threading.Lock()
        self._sec, self._nanosec = ctypes.c_int32(), ctypes.c_uint32()
        self._sec_ref, self._nanosec_ref = ctypes.byref(self._sec), ctypes.byref(self._nanosec)
        self._out13, self._out10 = (ctypes.c_double * 13)(), (ctypes.c_double * 10)()
        self._out_joints = (ctypes.c_double * 0)()
        # NumPy views of the output buffers, made once: each sample's values are a copy of one
        self._view13, self._view10 = np.frombuffer(self._out13), np.frombuffer(self._out10)
        self._view_joints = np.frombuffer(self._out_joints)
        self._names = JointStateDecoder()  # the names, decoded once while their bytes repeat

    @classmethod
    def load(cls) -> CompiledDecoders | None:
        """Decoders on the process's compiled library; None when there is none (logged once)."""
        lib, _ = _library()
        return None if lib is None else cls(lib)

    def odometry(self, data: bytes) -> tuple[int, int, Odometry] | None:
        got = self._stamped(self._odometry, data, self._out13, self._view13)
        return None if got is None else (got[0], got[1], Odometry.of_checked_values(got[2]))

    def imu(self, data: bytes) -> tuple[int, int, Imu] | None:
        got = self._stamped(self._imu, data, self._out10, self._view10)
        return None if got is None else (got[0], got[1], Imu.of_checked_values(got[2]))

    def _stamped(
        self, decode: ctypes._CFuncPtr, data: bytes, out: ctypes.Array, view: np.ndarray
    ) -> tuple[int, int, np.ndarray] | None:
        """(sec, nanosec, a read-only copy of the values) of a fixed-layout sample, or None."""
        if type(data) is not bytes:  # the C reads bytes; a transport may hand a bytearray or view
            data = bytes(data)
        with self._lock:
            if decode(data, len(data), out, self._sec_ref, self._nanosec_ref):
                return None
            return self._sec.value, self._nanosec.value, read_only_copy(view)

    def joint_states(self, data: bytes) -> tuple[int, int, JointStates] | None:
        if type(data) is not bytes:
            data = bytes(data)
        with self._lock:
            try:
                sec, nanosec, names, unique, at = self._names.names(data)
            except (ValueError, struct.error):
                return None
            n = len(names)
            if not unique:
                return None
            if len(self._out_joints) != 2 * n:
                self._out_joints = (ctypes.c_double * (2 * n))()
                self._view_joints = np.frombuffer(self._out_joints)
            if self._joints(data, len(data), at, n, self._out_joints):
                return None
            return sec, nanosec, JointStates.of_checked_values(names, read_only_copy(self._view_joints))


# -- the check against the Python path ---------------------------------------------------------


def _python_odometry(data: bytes) -> tuple[int, int, Odometry] | None:
    sec, nanosec, pose, twist = decode_odometry(data)
    odo = convert.odometry_from_values(pose, twist)
    return (sec, nanosec, odo) if _accepted(odo) else None


def _python_imu(data: bytes) -> tuple[int, int, Imu] | None:
    sec, nanosec, orientation, angular, linear = decode_imu(data)
    imu = convert.imu_from_values(orientation, angular, linear)
    return (sec, nanosec, imu) if _accepted(imu) else None


def _python_joint_states(data: bytes) -> tuple[int, int, JointStates] | None:
    sec, nanosec, names, position, velocity = JointStateDecoder().decode(data)
    js = convert.joint_states_from_values(names, position, velocity)
    return (sec, nanosec, js) if _accepted(js) else None


def _accepted(payload: Odometry | Imu | JointStates) -> bool:
    try:
        payload.checked()
    except ValueError:
        return False
    return True


def _fields(payload: Odometry | Imu | JointStates) -> list[bytes]:
    return [np.asarray(v, dtype=np.float64).tobytes() if k != "names" else repr(v).encode()
            for k, v in vars(payload).items()]  # fmt: skip


def verify(decoders: CompiledDecoders, samples: int = VERIFY_SAMPLES, seed: int = VERIFY_SEED) -> str:
    """'' when the compiled decoders agree with the Python path on `samples` seeded random messages
    of each kind (verdicts, stamps, every value bit for bit); else the first disagreement."""
    rng = np.random.default_rng(seed)
    kinds = (
        ("odometry", odometry_bytes, decoders.odometry, _python_odometry),
        ("imu", imu_bytes, decoders.imu, _python_imu),
        ("joint_states", joint_state_bytes, decoders.joint_states, _python_joint_states),
    )
    for kind, make, compiled, python in kinds:
        for k in range(samples):
            data = make(rng)
            c, p = compiled(data), python(data)
            if (c is None) != (p is None):
                return f"{kind} sample {k}: compiled {'refuses' if c is None else 'accepts'} it, Python not"
            if c is not None and p is not None and (c[:2] != p[:2] or _fields(c[2]) != _fields(p[2])):
                return f"{kind} sample {k}: the values differ"
    return ""


# -- seeded random messages (the check above; tests) ------------------------------------------


def _string(buf: bytearray, s: bytes) -> None:
    buf += b"\0" * ((-(len(buf) - 4)) % 4)
    buf += struct.pack("<I", len(s) + 1) + s + b"\0"


def _doubles(buf: bytearray, values: list[float]) -> None:
    buf += b"\0" * ((-(len(buf) - 4)) % 8)
    buf += struct.pack(f"<{len(values)}d", *values)


def _random_values(rng: np.random.Generator, n: int) -> list[float]:
    """Mostly ordinary values, now and then a non-finite or huge one."""
    v = rng.standard_normal(n) * rng.choice([0.1, 1.0, 100.0])
    for k in range(n):
        r = rng.random()
        if r < 0.02:
            v[k] = rng.choice([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0])
    return v.tolist()


def _random_quaternion_xyzw(rng: np.random.Generator) -> list[float]:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    r = rng.random()
    if r < 0.3:  # near and beyond the accepted norm (0.9, 1.1)
        q *= rng.choice([0.5, 0.899999, 0.9, 0.90001, 1.09999, 1.1, 1.100001, 2.0])
    elif r < 0.35:
        q[:] = 0.0
    elif r < 0.4:
        q[rng.integers(4)] = rng.choice([math.nan, math.inf, 1e200])
    return q.tolist()


def _header(rng: np.random.Generator) -> bytearray:
    buf = bytearray(ENCAPSULATION_LE)
    buf += struct.pack("<iI", int(rng.integers(-(2**31), 2**31)), int(rng.integers(0, 2**32)))
    _string(buf, b"odom"[: int(rng.integers(0, 5))])
    return buf


def odometry_bytes(rng: np.random.Generator) -> bytes:
    """A nav_msgs/Odometry as cyclonedds would write it, with random values and frame names."""
    buf = _header(rng)
    _string(buf, b"base_link"[: int(rng.integers(0, 10))])
    position, twist = _random_values(rng, 3), _random_values(rng, 6)
    _doubles(buf, [*position, *_random_quaternion_xyzw(rng), *[0.0] * 36])
    _doubles(buf, [*twist, *[0.0] * 36])
    return bytes(buf)


def imu_bytes(rng: np.random.Generator) -> bytes:
    """A sensor_msgs/Imu with random values."""
    buf = _header(rng)
    cov = [0.0] * 9
    angular, linear = _random_values(rng, 3), _random_values(rng, 3)
    _doubles(buf, [*_random_quaternion_xyzw(rng), *cov, *angular, *cov, *linear, *cov])
    return bytes(buf)


def joint_state_bytes(rng: np.random.Generator) -> bytes:
    """A sensor_msgs/JointState with random values: now and then a velocity sequence that is empty
    or of another length, or a name twice."""
    buf = _header(rng)
    n = int(rng.choice([0, 1, 3, 12]))
    names = [f"joint_{k}".encode() for k in range(n)]
    if n > 1 and rng.random() < 0.05:
        names[1] = names[0]
    buf += b"\0" * ((-(len(buf) - 4)) % 4)
    buf += struct.pack("<I", n)
    for name in names:
        _string(buf, name)
    r = rng.random()
    n_vel = 0 if r < 0.1 else n + 1 if r < 0.15 else n
    for values in (_random_values(rng, n), _random_values(rng, n_vel), []):  # position, velocity, effort
        buf += b"\0" * ((-(len(buf) - 4)) % 4)
        buf += struct.pack("<I", len(values))
        if values:
            _doubles(buf, values)
    return bytes(buf)
