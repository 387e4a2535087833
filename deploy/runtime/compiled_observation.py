"""The batch-of-one contract observation as C99, generated from the contract, compiled on the robot
at start-up and called through ctypes: a drop-in for deploy.runtime.fast_observation's
BatchOneObservation (build(state, out), reset()).

Why: the float fast path still costs ≈ 40 µs a cycle in the interpreter (a 500 Hz hover cycle on
the 2-core x86_64 build machine), most of the in-node compute after input handling. The same
arithmetic as a few straight C statements reading the state's arrays in place costs a ctypes call.

It is the same arithmetic, not a third definition: the generator writes, per term and in the
contract's order, the float path's formula (deploy.runtime.fast_observation, itself checked bit for
bit against the shared deploy.observations.ObservationBuilder) in double precision with the same
operation order, the integrals, scales, clips and history shifts as it does them, and the row cast
to float32 once. C99 without -ffast-math and with -ffp-contract=off (deploy.runtime.compiled_policy
COMPILE_FLAGS) keeps IEEE double arithmetic, so the results are equal bit for bit; and before use
the compiled observation is run beside BatchOneObservation on VERIFY_STEPS seeded random states (one
sequence with a reset in the middle: fresh histories, integrals, the integration gate and the clips
all exercised) and must give identical float32 bits, else CompiledInferenceError.

Build safety as for the compiled policy: generated from the contract in memory, compiled in a
private temporary directory with the fixed flags, loaded, the directory deleted.

The C keeps the history and integrals in static storage of its own library (one library per
instance). It reads the RobotState's arrays through pointers bound on the first build() and kept
while the state hands over the same arrays (the runtime's StateAssembler overwrites one state in
place); another state is bound anew. Arrays must be float64, C-contiguous, batch of one.
"""

from __future__ import annotations

import ctypes
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from deploy.contract import Contract, ContractError
from deploy.observations import INTEGRATED_TERMS
from deploy.robot_state import RobotState
from deploy.runtime.compiled_policy import (
    CompiledInferenceError,
    build_library,
    compiler_command,
    describe_build,
)
from deploy.runtime.fast_observation import BatchOneObservation

C_PREFIX = "tether_observation"
#: The load-time check: this many seeded random states, a reset after half of them.
VERIFY_STEPS = 48
VERIFY_SEED = 0

#: The state arrays the C reads, in the order of its arguments (RobotState field names).
STATE_FIELDS = (
    "base_pos_m",
    "base_quat_wxyz",
    "base_lin_vel_m_s",
    "base_ang_vel_rad_s",
    "last_action",
    "command",
    "joint_pos_rad",
    "joint_default_pos_rad",
    "joint_vel_rad_s",
)
_ARG = dict(zip(STATE_FIELDS, ("pos", "quat", "lin_vel", "ang_vel", "last_action", "command",
                               "joint_pos", "joint_default", "joint_vel"), strict=True))  # fmt: skip


def _lit(x: float) -> str:
    """A double literal that reads back as exactly `x` (repr is the shortest round-trip form)."""
    if math.isinf(x):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    return f"({float(x)!r})"


def _clip(var: str, low: float, high: float) -> str:
    """The float path's clip (low if x < low else high if x > high else x: NaN passes through)."""
    lo, hi = _lit(low), _lit(high)
    return f"{var} = {var} < {lo} ? {lo} : ({var} > {hi} ? {hi} : {var});"


def _raw_term(name: str, size: int, contract: Contract) -> tuple[list[str], dict[str, int]]:
    """C expressions of the term's raw values, as the float path computes them, and the RobotState
    fields they read with the values each must have (the command's read is added by fields_read)."""
    cmd = contract.command_slices()

    def first(key: str) -> int | None:
        s = cmd.get(key)
        return None if s is None else int(s.start)

    if name in ("position_error_m", "position_error_integral_m_s"):
        b = first("target_pos_m")
        assert b is not None  # BatchOneObservation.supports checked it
        return [f"pos[{k}] - command[{b + k}]" for k in range(size)], {"base_pos_m": 3}
    if name == "linear_velocity_error_m_s":
        b = first("target_vel_m_s")
        target = [f"command[{b + k}]" for k in range(size)] if b is not None else ["0.0"] * size
        return [f"lin_vel[{k}] - {t}" for k, t in enumerate(target)], {"base_lin_vel_m_s": 3}
    if name == "rotation_matrix":
        return [f"r[{k}]" for k in range(9)], {"base_quat_wxyz": 4}
    if name == "projected_gravity":
        return ["-r[6]", "-r[7]", "-r[8]"], {"base_quat_wxyz": 4}
    if name == "angular_velocity_rad_s":
        return [f"ang_vel[{k}]" for k in range(size)], {"base_ang_vel_rad_s": 3}
    if name == "previous_action":
        return [f"last_action[{k}]" for k in range(size)], {"last_action": size}
    if name == "joint_pos_rel_default_rad":
        reads = {"joint_pos_rad": size, "joint_default_pos_rad": size}
        return [f"joint_pos[{k}] - joint_default[{k}]" for k in range(size)], reads
    if name == "joint_vel_rad_s":
        return [f"joint_vel[{k}]" for k in range(size)], {"joint_vel_rad_s": size}
    if name == "velocity_command":
        b = first("velocity_command")
        assert b is not None
        return [f"command[{b + k}]" for k in range(size)], {}
    raise CompiledInferenceError(f"no C for the observation term '{name}'")


#: The float path's rotation matrix of a quaternion (deploy.runtime.fast_observation._rotmat_floats).
_ROTMAT = """
static void rotmat(const double *q, double *r) {
    double w = q[0], x = q[1], y = q[2], z = q[3];
    double n = sqrt(w * w + x * x + y * y + z * z);
    if (n > 1e-12) { w = w / n; x = x / n; y = y / n; z = z / n; }
    else { w = 1.0; x = 0.0; y = 0.0; z = 0.0; }
    r[0] = 1 - 2 * (y * y + z * z); r[1] = 2 * (x * y - w * z); r[2] = 2 * (x * z + w * y);
    r[3] = 2 * (x * y + w * z); r[4] = 1 - 2 * (x * x + z * z); r[5] = 2 * (y * z - w * x);
    r[6] = 2 * (x * z - w * y); r[7] = 2 * (y * z + w * x); r[8] = 1 - 2 * (x * x + y * y);
}
"""


def generate_observation_c(contract: Contract) -> str:
    """The C99 source for the contract's observation (CompiledInferenceError for a term without a
    float path): `{C_PREFIX}_bind(pos, quat, lin_vel, ang_vel, last_action, command, joint_pos,
    joint_default, joint_vel, out)` (the arrays, STATE_FIELDS order, and the float32 output),
    `{C_PREFIX}_build()` (one observation from the bound arrays) and `{C_PREFIX}_reset()`."""
    if not BatchOneObservation.supports(contract):
        raise CompiledInferenceError(
            f"the observation of {contract.task} has a term without a batch-of-one float path; "
            "the shared builder runs it"
        )
    dt = contract.control_dt_s
    width = max(t.size for t in contract.observations)
    size = sum(t.size * t.history for t in contract.observations)
    lines = [
        "/* Generated by deploy.runtime.compiled_observation from the contract of "
        f"{contract.task} (sha256 {contract.sha256()}). Do not edit. */",
        "#include <math.h>",
        "#include <string.h>",
        f"static double stacked[{size}];",
        "static int fresh = 1;",
    ]
    for k, t in enumerate(contract.observations):
        if t.name in INTEGRATED_TERMS:
            lines.append(f"static double integral_{k}[{t.size}];")
    rotation = any(t.name in ("rotation_matrix", "projected_gravity") for t in contract.observations)
    if rotation:
        lines.append(_ROTMAT)
    lines.append(f"void {C_PREFIX}_reset(void) {{ fresh = 1; }}")
    # the arrays are bound once (a ctypes call converts each argument: ≈ 0.3 µs apiece)
    lines += [f"static const double *{_ARG[f]};" for f in STATE_FIELDS]
    lines.append("static float *out;")
    args = ", ".join(f"const double *{_ARG[f]}_" for f in STATE_FIELDS)
    lines.append(f"void {C_PREFIX}_bind({args}, float *out_) {{")
    lines += [f"    {_ARG[f]} = {_ARG[f]}_;" for f in STATE_FIELDS]
    lines.append("    out = out_;")
    lines.append("}")
    lines.append(f"void {C_PREFIX}_build(void) {{")
    lines.append(f"    double v[{width}];")
    if rotation:
        lines += ["    double r[9];", "    rotmat(quat, r);"]
    col = 0
    for k, t in enumerate(contract.observations):
        n, end = t.size, col + t.history * t.size
        lines.append(f"    /* {t.name}: {n} values × {t.history}, columns {col}..{end - 1} */")
        raw, _ = _raw_term(t.name, n, contract)
        if len(raw) != n:
            raise CompiledInferenceError(f"the term '{t.name}' has {len(raw)} values, the contract says {n}")
        lines += [f"    v[{i}] = {e};" for i, e in enumerate(raw)]
        if t.name in INTEGRATED_TERMS:
            limit = math.inf if t.clip is None else t.clip / abs(t.scale)
            tau = t.leak_time_constant_s
            retain = 1.0 if tau is None else float(np.exp(-dt / tau))
            g = f"integral_{k}"
            lines.append("    if (fresh) {")
            lines += [f"        {g}[{i}] = 0.0;" for i in range(n)]
            lines.append("    } else {")
            if t.integrate_within is not None:
                norm = " + ".join(f"v[{i}] * v[{i}]" for i in range(n))
                lines.append(f"        double ss = 0.0 + {norm};")  # sum() starts at 0
                lines.append(f"        int step = sqrt(ss) <= {_lit(t.integrate_within)};")
            else:
                lines.append("        int step = 1;")
            for i in range(n):
                lines.append(
                    f"        {g}[{i}] = step ? {_lit(retain)} * {g}[{i}] + v[{i}] * {_lit(dt)}"
                    f" : {_lit(retain)} * {g}[{i}] + 0.0;"
                )
            lines.append("    }")
            for i in range(n):
                lines.append(f"    {_clip(f'{g}[{i}]', -limit, limit)}")
                lines.append(f"    v[{i}] = {g}[{i}];")
        if float(t.scale) != 1.0:
            lines += [f"    v[{i}] = v[{i}] * {_lit(float(t.scale))};" for i in range(n)]
        if t.clip is not None:
            lines += [f"    {_clip(f'v[{i}]', -float(t.clip), float(t.clip))}" for i in range(n)]
        if t.history == 1:
            lines.append(f"    memcpy(stacked + {col}, v, sizeof(double) * {n});")
        else:
            lines.append("    if (fresh) {")
            for h in range(t.history):
                lines.append(f"        memcpy(stacked + {col + h * n}, v, sizeof(double) * {n});")
            lines.append("    } else {")
            older = end - col - n  # the older slots move one place back
            lines.append(f"        memmove(stacked + {col + n}, stacked + {col}, sizeof(double) * {older});")
            lines.append(f"        memcpy(stacked + {col}, v, sizeof(double) * {n});")
            lines.append("    }")
        col = end
    lines.append("    fresh = 0;")
    lines.append(f"    for (int i = 0; i < {size}; i++) out[i] = (float)stacked[i];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def fields_read(contract: Contract) -> dict[str, int]:
    """The RobotState fields the contract's observation reads (the C binds only these; any other
    is NULL), with the values each must have."""
    reads: dict[str, int] = {}
    for t in contract.observations:
        reads.update(_raw_term(t.name, t.size, contract)[1])
    if contract.command_size:  # position, velocity and command terms read their slices of it
        reads["command"] = contract.command_size
    return reads


class CompiledObservation:
    """BatchOneObservation(contract) compiled to C (same numbers, bit for bit; checked at load).
    Construct only when BatchOneObservation.supports(contract); raises CompiledInferenceError
    naming why it cannot run compiled (no compiler, a failed build, a mismatch)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.size = contract.observation_size
        #: The float path: names the problem with a state the C cannot bind, and the load check.
        self._reference = BatchOneObservation(contract)
        cc = compiler_command()
        self.description = describe_build(cc)
        source = generate_observation_c(contract)
        build_dir = Path(tempfile.mkdtemp(prefix="tether-observation-"))  # 0700, fresh name
        try:
            (build_dir / f"{C_PREFIX}.c").write_text(source)
            self._lib = build_library(cc, build_dir, f"{C_PREFIX}.c", f"the observation of {contract.task}")
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        self._bind_c = self._lib[f"{C_PREFIX}_bind"]
        self._bind_c.argtypes, self._bind_c.restype = [ctypes.c_void_p] * (len(STATE_FIELDS) + 1), None
        self._call = self._lib[f"{C_PREFIX}_build"]
        self._call.argtypes, self._call.restype = [], None
        self._reset = self._lib[f"{C_PREFIX}_reset"]
        self._reset.argtypes, self._reset.restype = [], None
        self._bound: tuple[np.ndarray, ...] = ()  # the state arrays and output the C is bound to
        self._reads = fields_read(contract)
        self.verify()

    @property
    def build_address(self) -> int:
        """The address of the C function build() calls (void (*)(void)), on the state and output last
        bound (bind()): a caller in C builds the observation through it."""
        return ctypes.cast(self._call, ctypes.c_void_p).value

    def reset(self) -> None:
        """Forget history and integrals (the next build fills every history slot)."""
        self._reset()
        self._reference.reset()

    def build(self, state: RobotState, out: np.ndarray | None = None) -> np.ndarray:
        """The observation (1, D) float32 of a batch-of-one `state` (advances history and
        integrals), written into `out` ((1, D) float32, C-contiguous) when given."""
        if out is None:
            out = np.empty((1, self.size), dtype=np.float32)
        bound = self._bound
        if not (
            bound
            and out is bound[-1]
            and state.base_pos_m is bound[0]
            and state.base_quat_wxyz is bound[1]
            and state.base_lin_vel_m_s is bound[2]
            and state.base_ang_vel_rad_s is bound[3]
            and state.last_action is bound[4]
            and state.command is bound[5]
            and state.joint_pos_rad is bound[6]
            and state.joint_default_pos_rad is bound[7]
            and state.joint_vel_rad_s is bound[8]
        ):
            self._bind(state, out)
        self._call()
        return out

    def bind(self, state: RobotState, out: np.ndarray) -> None:
        """Read `state`'s arrays and write `out` from now on (what build() does when handed other
        arrays), without building: for a caller that runs the C itself (deploy.runtime.compiled_cycle)."""
        self._bind(state, out)

    def _bind(self, state: RobotState, out: np.ndarray) -> None:
        arrays = [getattr(state, f) for f in STATE_FIELDS]
        problem = self._problem(arrays, out)
        if problem is not None:
            self._reference.build(state)  # raises the float path's own error for a bad state ...
            raise ContractError(f"the compiled observation cannot read this state: {problem}")  # ... or this
        self._bound = (*arrays, out)  # kept: the C holds their addresses
        reads = self._reads  # a field the C does not read is bound as NULL
        pointers = [a.ctypes.data if f in reads else None for f, a in zip(STATE_FIELDS, arrays, strict=True)]
        self._bind_c(*pointers, out.ctypes.data)

    def _problem(self, arrays: list[np.ndarray], out: np.ndarray) -> str | None:
        for name, a in zip(STATE_FIELDS, arrays, strict=True):
            n = self._reads.get(name)
            if n is None:
                continue
            if not isinstance(a, np.ndarray) or a.dtype != np.float64 or not a.flags.c_contiguous:
                return f"{name} must be a C-contiguous float64 array, found {type(a).__name__}"
            if a.shape != (1, n):
                return f"{name} has shape {a.shape}, expected (1, {n})"
        if not (
            isinstance(out, np.ndarray)
            and out.dtype == np.float32
            and out.flags.c_contiguous
            and out.flags.writeable
            and out.shape == (1, self.size)
        ):
            return f"the output must be a writable C-contiguous float32 array of shape (1, {self.size})"
        return None

    def verify(self, steps: int = VERIFY_STEPS, seed: int = VERIFY_SEED) -> None:
        """Run beside BatchOneObservation on `steps` seeded random states (reset after half of
        them); CompiledInferenceError at the first float32 value whose bits differ. Leaves both
        reset."""
        c = self.contract
        rng = np.random.default_rng(seed)
        joints = self._reads.get("joint_pos_rad", self._reads.get("joint_vel_rad_s", len(c.joints)))
        state = RobotState(
            base_pos_m=np.zeros((1, 3)),
            base_quat_wxyz=np.zeros((1, 4)),
            base_lin_vel_m_s=np.zeros((1, 3)),
            base_ang_vel_rad_s=np.zeros((1, 3)),
            last_action=np.zeros((1, c.action_size)),
            command=np.zeros((1, c.command_size)),
            joint_names=tuple(j.name for j in c.joints),
            joint_pos_rad=np.zeros((1, joints)),
            joint_vel_rad_s=np.zeros((1, joints)),
            joint_default_pos_rad=np.zeros((1, joints)),
            time_s=np.zeros(1),
        )
        got = np.zeros((1, self.size), dtype=np.float32)
        self.reset()
        try:
            for k in range(steps):
                if k == steps // 2:
                    self.reset()
                # mostly small values, now and then large ones (clips, the integration gate)
                spread = 10.0 ** rng.integers(-2, 3)
                for name in STATE_FIELDS:
                    a = getattr(state, name)
                    a[0] = rng.standard_normal(a.shape[1]) * spread
                if k % 7 == 3:
                    state.base_quat_wxyz.fill(0.0)  # the degenerate quaternion: identity
                self.build(state, got)
                ref = self._reference.build(state)
                if not np.array_equal(got.view(np.uint32), ref.view(np.uint32)):
                    j = int(np.flatnonzero(got.view(np.uint32) != ref.view(np.uint32))[0])
                    raise CompiledInferenceError(
                        f"the compiled observation of {c.task} differs from the float path at step {k} "
                        f"(seed {seed}), column {j}: {got[0, j]!r} compiled, {ref[0, j]!r} in Python; the "
                        "compiled observation is not used. Check the compiler ($CC) for flags that "
                        "change float arithmetic"
                    )
        finally:
            self._bound = ()
            self.reset()
