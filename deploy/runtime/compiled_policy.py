"""Compiled batch-of-one inference: the policy graph as C99 (deploy.c_export), built on the robot at
load time and called through ctypes. A drop-in for deploy.policy_file.BoundPolicy.

Why: the control cycle calls inference once per period and sleeps in between, so ONNX Runtime's
large C++ call path is cold in the caches at every call (85→64→64→4 hover MLP at 500 Hz on the
2-core x86_64 build machine: p50 ≈ 32 µs, p99 ≈ 76 µs per call; ≈ 5 µs in a tight loop). The same
graph as a few straight C loops: p50 ≈ 12 µs, p99 ≈ 26 µs paced. The dense layers are generated
input-major (deploy.c_export DENSE_LOOPS: the inner loop runs across a layer's outputs, which the
compiler vectorizes without reordering any output's sum; the same floats as the output-major
loops, walk policy 7.8 → 1.3 µs back to back), and the buffers are bound once so the call passes
no arguments.

How, and why it is safe to do at start-up:
- The C is generated from the model bytes the PolicyFile loaded (in the policy node: the bytes
  whose Ed25519 signature verified, deploy.provenance); the file is never read again.
- It is compiled in a private directory (tempfile.mkdtemp: mode 0700, a fresh name), never a
  shared cache where a planted library would be code injection, loaded with ctypes, and the
  directory is deleted right after loading.
- The compiler is `$CC` (split like a shell word list) else `cc`, with the fixed flags
  COMPILE_FLAGS: -O3 and -march=native (it compiles on the robot, for the robot), strict ISO C99
  float semantics (no -ffast-math: no reassociation, no contraction into FMA).
- Before use it is checked against ONNX Runtime (the PolicyFile's own session) on the zero
  observation and VERIFY_RANDOM seeded random ones, for a recurrent policy as one sequence carrying
  the state (actions and state compared at every step): every value within
  ATOL + RTOL·|ORT|, else CompiledInferenceError. The runtime stays numerically interchangeable with
  ONNX Runtime.

Needs a C compiler on the robot computer, onnx and numpy; nothing else.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from deploy.c_export import UnsupportedGraphError, generate_from_model
from deploy.contract import ContractError
from deploy.policy_file import ACTION_OUTPUT, OBS_INPUT, PolicyFile

#: Compiler flags, fixed: optimized for this machine, ISO C99 float semantics (no -ffast-math, and
#: no contraction of a·b + c into one FMA, which clang does by default even in ISO mode).
COMPILE_FLAGS = ("-std=c99", "-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared")
LINK_FLAGS = ("-lm",)
#: Seconds a compilation may take (a walk policy takes ≈ 0.1 s on a 2-core x86_64 machine).
COMPILE_TIMEOUT_S = 120.0
#: The load-time check: |C − ORT| ≤ ATOL + RTOL·|ORT| for every value.
ATOL = 1e-5
RTOL = 1e-5
#: Seeded random observations (standard normal, seed VERIFY_SEED) checked after the zero observation.
VERIFY_RANDOM = 32
VERIFY_SEED = 0
C_PREFIX = "tether_policy"


class CompiledInferenceError(ContractError):
    """The policy cannot run compiled here: no C compiler, an operator the C generator does not
    handle, a failed compilation, or results that differ from ONNX Runtime."""


def compiler_command() -> list[str]:
    """The C compiler as an argument list: `$CC` when set, else `cc`; CompiledInferenceError when
    it is not found."""
    cc = os.environ.get("CC", "").strip()
    words = shlex.split(cc) if cc else ["cc"]
    exe = shutil.which(words[0])
    if exe is None:
        source = f"$CC is '{cc}'" if cc else "$CC is not set and `cc` is not on PATH"
        raise CompiledInferenceError(
            f"no C compiler: {source}; install one (e.g. `apt install gcc`) or point $CC at it, or set "
            "`inference: {engine: onnxruntime}` in the runtime configuration"
        )
    return [exe, *words[1:]]


def build_library(cc: list[str], build_dir: Path, source: str, what: str) -> ctypes.PyDLL:
    """Compile `build_dir`/`source` with `cc` and COMPILE_FLAGS into a shared library there and load
    it; CompiledInferenceError naming `what` when compiling or loading fails. The caller owns
    `build_dir` (a private tempfile.mkdtemp) and deletes it once this returns."""
    lib = build_dir / f"lib{Path(source).stem}.so"
    cmd = [*cc, *COMPILE_FLAGS, "-o", str(lib), str(build_dir / source), *LINK_FLAGS]
    try:
        done = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompiledInferenceError(f"the C compiler {cc[0]} could not run: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise CompiledInferenceError(
            f"compiling {what}'s generated C with {cc[0]} failed (exit {done.returncode}): "
            f"{tail}; check the compiler ($CC), or set `inference: {{engine: onnxruntime}}`"
        )
    try:
        # PyDLL: the interpreter lock is kept through each call. The calls take microseconds; a
        # CDLL would release the lock and take it back around every one of them, and another
        # thread that took it in between would hold the cycle up for up to the interpreter's
        # switch interval (5 ms).
        return ctypes.PyDLL(str(lib))
    except OSError as exc:
        raise CompiledInferenceError(f"the compiled code of {what} could not be loaded: {exc}") from exc


def describe_build(cc: list[str]) -> str:
    """What `inference_engine` reports for a compiled policy, e.g. 'compiled C (cc -O3 -march=native)'."""
    flags = " ".join(f for f in COMPILE_FLAGS if f not in ("-fPIC", "-shared"))
    return f"compiled C ({' '.join([Path(cc[0]).name, *cc[1:]])} {flags})"


class CompiledPolicy:
    """The policy compiled to C: write `obs` (1, D) float32, call run(), read `action` (1, A)
    float32. Nothing is allocated per call. A recurrent policy's state lives in a buffer of this
    object (the generated PREFIX_state_t); reset() zeroes it. Batch of one only; not reentrant (the
    generated code has a static scratch buffer, one per loaded library): call from one thread.

    `model_bytes`: the exact bytes `policy`'s session was built from. Raises CompiledInferenceError
    (naming the reason) when the policy cannot run compiled or disagrees with ONNX Runtime.
    """

    batch_size = 1

    def __init__(self, policy: PolicyFile, model_bytes: bytes) -> None:
        self.policy = policy
        cc = compiler_command()
        try:
            c_policy = generate_from_model(model_bytes, C_PREFIX, str(policy.path), dense_loop="input")
        except UnsupportedGraphError as exc:
            raise CompiledInferenceError(str(exc)) from exc
        c = policy.contract
        if (c_policy.obs_size, c_policy.action_size) != (c.observation_size, c.action_size):
            raise CompiledInferenceError(
                f"{policy.path}: the C takes {c_policy.obs_size} observations and gives "
                f"{c_policy.action_size} actions, the contract {c.observation_size} and {c.action_size}"
            )
        self.description = describe_build(cc)
        self.obs = np.zeros((1, c.observation_size), dtype=np.float32)
        self.action = np.zeros((1, c.action_size), dtype=np.float32)
        self._state = np.zeros(max(c_policy.state_size, 1), dtype=np.float32)
        self.recurrent = c_policy.state_size > 0
        c_policy.source += _bound_entry(C_PREFIX, self.recurrent)
        self.build_dir = Path(tempfile.mkdtemp(prefix="tether-policy-"))  # 0700, fresh name
        try:
            c_policy.write(self.build_dir)
            self._lib = build_library(cc, self.build_dir, f"{C_PREFIX}.c", str(policy.path))
        finally:
            shutil.rmtree(self.build_dir, ignore_errors=True)
        bind = self._lib[f"{C_PREFIX}_bind"]
        bind.argtypes, bind.restype = [ctypes.c_void_p] * 3, None
        bind(self._state.ctypes.data, self.obs.ctypes.data, self.action.ctypes.data)  # kept by self
        self._run = self._lib[f"{C_PREFIX}_run"]
        self._run.argtypes, self._run.restype = [], None
        if self.recurrent:
            self._reset = self._lib[f"{C_PREFIX}_reset"]
            self._reset.argtypes, self._reset.restype = [ctypes.c_void_p], None
        self.verify()

    @property
    def run_address(self) -> int:
        """The address of the C function run() calls (void (*)(void)): a caller in C runs the policy
        on the same bound buffers through it."""
        return ctypes.cast(self._run, ctypes.c_void_p).value

    def reset(self) -> None:
        """Zero the recurrent state (call on every (re)start of the controlled system)."""
        if self.recurrent:
            self._reset(self._state.ctypes.data)

    def run(self) -> np.ndarray:
        """Run on `obs`; returns `action` (the buffer itself, overwritten by the next call)."""
        self._run()
        return self.action

    def verify(self, n_random: int = VERIFY_RANDOM, seed: int = VERIFY_SEED) -> None:
        """Compare with ONNX Runtime on the zero observation then `n_random` seeded random ones (one
        sequence carrying the state, for a recurrent policy); CompiledInferenceError on a value
        outside ATOL + RTOL·|ORT|. Leaves `obs` zero and the state reset."""
        p = self.policy
        rng = np.random.default_rng(seed)
        observations = np.zeros((1 + n_random, self.obs.shape[1]), dtype=np.float32)
        observations[1:] = rng.standard_normal((n_random, self.obs.shape[1])).astype(np.float32)
        shapes = [tuple(d if isinstance(d, int) else 1 for d in i.shape) for i in p.state_inputs]
        sizes = [int(np.prod(s)) for s in shapes]
        ort_state = [np.zeros(s, dtype=np.float32) for s in shapes]
        offsets = np.cumsum([0, *sizes])  # each state output's place in the C state buffer
        names = [ACTION_OUTPUT, *p.state_outputs]
        self.reset()
        try:
            for k, o in enumerate(observations):
                feed = {OBS_INPUT: o[None]} | {
                    i.name: s for i, s in zip(p.state_inputs, ort_state, strict=True)
                }
                ort_out = p.session.run(names, feed)
                self.obs[0] = o
                got = [self.run()[0].copy()]
                got += [self._state[a:b].copy() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
                for name, c_val, o_val in zip(names, got, ort_out, strict=True):
                    _check_close(p.path, name, k, c_val, np.asarray(o_val, np.float32).ravel())
                ort_state = [np.asarray(s, np.float32) for s in ort_out[1:]]
        finally:
            self.obs.fill(0.0)
            self.reset()


def _bound_entry(prefix: str, recurrent: bool) -> str:
    """C appended to the generated policy: PREFIX_bind(state, obs, action) stores the buffers'
    addresses once, PREFIX_run() runs on them (a ctypes call converts each argument, ≈ 0.3 µs
    apiece)."""
    state = f"({prefix}_state_t *)bound_state, " if recurrent else ""
    return f"""
/* Added by deploy.runtime.compiled_policy: the buffers bound once, an argument-free call. */
static void *bound_state;
static const float *bound_obs;
static float *bound_action;
void {prefix}_bind(void *state, const float *obs, float *action)
{{
    bound_state = state;
    bound_obs = obs;
    bound_action = action;
}}
void {prefix}_run(void)
{{
    {prefix}_act({state}bound_obs, bound_action);
}}
"""


def _check_close(where: object, name: str, k: int, got: np.ndarray, ref: np.ndarray) -> None:
    if got.shape != ref.shape:
        raise CompiledInferenceError(
            f"{where}: the compiled '{name}' has {got.size} values, ONNX Runtime's {ref.size}"
        )
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = ~((got == ref) | (err <= ATOL + RTOL * np.abs(ref)) | (np.isnan(got) & np.isnan(ref)))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        what = "the zero observation" if k == 0 else f"seeded random observation {k} (seed {VERIFY_SEED})"
        raise CompiledInferenceError(
            f"{where}: the compiled policy disagrees with ONNX Runtime on {what}: '{name}'[{j}] is "
            f"{got[j]!r} compiled, {ref[j]!r} in ONNX Runtime (allowed |difference| ≤ {ATOL:g} + "
            f"{RTOL:g}·|ORT|, found {err[j]:.3g}); the compiled code is not used. Check the compiler "
            "($CC) for flags that change float arithmetic, or run with `inference: {engine: onnxruntime}`"
        )
