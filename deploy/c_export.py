"""Generate dependency-free C99 for a microcontroller from an exported policy ONNX file.

The generator reads the ONNX graph that `tether export` wrote (normalization →
MLP → action, contract in metadata_props) and writes two files:

  PREFIX.h   #defines: contract SHA-256, task, observation/action sizes,
             parameter and multiply-accumulate counts; the function prototype
  PREFIX.c   the weights and normalization constants as `static const float`
             arrays (flash), one file-scope scratch buffer sized by the widest
             layers (RAM), and PREFIX_act(): observation in, action out

Float32 arithmetic only, no malloc, no recursion, no library beyond <math.h>
(expf/tanhf, for ELU/tanh/sigmoid). Batch size is one. The scratch buffer is
static, so PREFIX_act() is not reentrant: call it from one task. A recurrent
policy (inputs other than `obs`, paired in order with outputs other than
`action`, as deploy/policy_file.py reads them) gets a PREFIX_state_t struct the
caller owns, PREFIX_reset() to zero it, and PREFIX_act(state, obs, action).

Supported operators (what torch.onnx writes for Tether's MLP policies, and a
few neighbours): Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Elu, Tanh,
Sigmoid, Clip, Neg, Identity, Constant, and Slice/Flatten/Reshape/Squeeze/
Unsqueeze where they only select or relabel a row vector. Any other operator is
refused with an error naming it and its node.

    python -m deploy.c_export POLICY.onnx -o DIR [--prefix NAME]

Needs onnx and numpy only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from deploy.policy_file import ACTION_OUTPUT, META_TASK, OBS_INPUT, read_contract

DEFAULT_PREFIX = "tether_policy"
ELEMENTWISE_BINARY = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}


class UnsupportedGraphError(ValueError):
    """The ONNX graph uses an operator or a shape the C generator does not handle."""


@dataclass
class CPolicy:
    """The generated sources and what they cost."""

    prefix: str
    header: str
    source: str
    obs_size: int
    action_size: int
    state_size: int
    parameters: int  # float constants (weights, biases, normalization)
    macs: int  # multiply-accumulates per call (Gemm/MatMul)
    transcendentals: int  # expf/tanhf calls per call (ELU, tanh, sigmoid)
    scratch_floats: int
    ops: list[str] = field(default_factory=list)

    @property
    def flash_constant_bytes(self) -> int:
        return 4 * self.parameters

    @property
    def ram_bytes(self) -> int:
        """Scratch buffer plus recurrent state (float32)."""
        return 4 * (self.scratch_floats + self.state_size)

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        h, c = directory / f"{self.prefix}.h", directory / f"{self.prefix}.c"
        h.write_text(self.header)
        c.write_text(self.source)
        return h, c


def c_float(v: float) -> str:
    """A float32 literal that reads back to the same float32 (9 significant digits)."""
    s = f"{float(np.float32(v)):.9g}"
    if "." not in s and "e" not in s and "n" not in s:
        s += ".0"
    return s + "f"


def _array(name: str, values: np.ndarray) -> str:
    flat = np.asarray(values, dtype=np.float32).ravel()
    rows = [", ".join(c_float(v) for v in flat[i : i + 6]) for i in range(0, flat.size, 6)]
    body = ",\n    ".join(rows)
    return f"static const float {name}[{flat.size}] = {{\n    {body}\n}};\n"


#: How a dense layer's loops run: "output" (one dot product per output, weights (out, in): the
#: least RAM traffic, for microcontrollers) or "input" (each input scaled into every output,
#: weights stored transposed (in, out): the inner loop runs across outputs, which a compiler
#: vectorizes without reordering any sum). Each output's sum has the same terms in the same
#: order either way, so both give the same floats.
DENSE_LOOPS = ("output", "input")


class _Generator:
    def __init__(self, model: onnx.ModelProto, prefix: str, where: str, dense_loop: str = "output") -> None:
        if dense_loop not in DENSE_LOOPS:
            raise ValueError(f"dense_loop must be one of {list(DENSE_LOOPS)}, found {dense_loop!r}")
        self.dense_loop = dense_loop
        self.model = model
        self.prefix = prefix
        self.where = where
        self.const: dict[str, np.ndarray] = {}
        for init in model.graph.initializer:
            self.const[init.name] = numpy_helper.to_array(init)
        self.width: dict[str, int] = {}  # runtime row vectors: name -> length
        self.location: dict[str, str] = {}  # runtime name -> C expression of its first element
        self.arrays: list[str] = []  # emitted constant arrays
        self.const_names: dict[tuple, str] = {}
        self.body: list[str] = []
        self.parameters = 0
        self.macs = 0
        self.transcendentals = 0
        self.ops: list[str] = []

    # -- helpers -------------------------------------------------------------------------------
    def fail(self, node: onnx.NodeProto, why: str) -> None:
        raise UnsupportedGraphError(
            f"{self.where}: node '{node.name or '(unnamed)'}' ({node.op_type}): {why}; the C generator "
            f"handles feed-forward MLP graphs (Gemm/MatMul, elementwise Add/Sub/Mul/Div, Relu/Elu/Tanh/"
            f"Sigmoid/Clip). Run the policy with ONNX Runtime (`tether run`) instead."
        )

    def attr(self, node: onnx.NodeProto, name: str, default):
        for a in node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def constant(self, values: np.ndarray, hint: str) -> str:
        """The C name of a constant array (emitted once per distinct array object)."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        key = (values.shape, values.tobytes())  # identical arrays are emitted once
        if key not in self.const_names:
            finite = np.isfinite(np.asarray(values, dtype=np.float32))
            if not finite.all():
                raise UnsupportedGraphError(f"{self.where}: constant '{hint}' has non-finite values")
            ident = re.sub(r"[^0-9A-Za-z_]", "_", hint).strip("_") or "c"
            name = f"{self.prefix}_k{len(self.const_names)}_{ident}"[:60]
            self.const_names[key] = name
            self.arrays.append(_array(name, values))
            self.parameters += int(np.asarray(values).size)
        return self.const_names[key]

    def vector_const(self, node: onnx.NodeProto, value: np.ndarray, n: int) -> np.ndarray | float:
        """A constant operand broadcast against a row vector of length n: a scalar or an (n,) array."""
        v = np.asarray(value, dtype=np.float32)
        if v.size == 1:
            return float(v.ravel()[0])
        if v.ndim >= 1 and v.shape[-1] == n and v.size == n:
            return v.reshape(n)
        self.fail(node, f"constant operand of shape {v.shape} does not broadcast over a row of {n}")
        raise AssertionError  # unreachable

    # -- walk --------------------------------------------------------------------------------
    def run(self, state_inputs: list[str]) -> None:
        for node in self.model.graph.node:
            self.ops.append(node.op_type)
            handler = getattr(self, f"op_{node.op_type.lower()}", None)
            if handler is None:
                self.fail(node, f"operator '{node.op_type}' is not supported")
            handler(node)
        del state_inputs

    def runtime(self, node: onnx.NodeProto, name: str) -> int:
        if name not in self.width:
            self.fail(node, f"input '{name}' is neither a graph input nor computed before this node")
        return self.width[name]

    def emit(self, node: onnx.NodeProto, lines: list[str]) -> None:
        self.body.append(f"    /* {node.op_type} {node.name} -> {node.output[0]} */")
        self.body.extend("    " + line for line in lines)

    # the scratch allocator is filled in later; while walking, each runtime value gets a symbolic slot
    def new_value(self, name: str, n: int) -> str:
        self.width[name] = n
        self.location[name] = f"@{name}@"
        return self.location[name]

    def ref(self, name: str) -> str:
        return self.location[name]

    # -- operators ------------------------------------------------------------------------------
    def op_constant(self, node: onnx.NodeProto) -> None:
        for a in node.attribute:
            if a.name == "value":
                self.const[node.output[0]] = numpy_helper.to_array(a.t)
                return
            if a.name in ("value_float", "value_floats"):
                self.const[node.output[0]] = np.asarray(onnx.helper.get_attribute_value(a), np.float32)
                return
        self.fail(node, "only tensor and float constants are supported")

    def _dense(
        self,
        node: onnx.NodeProto,
        x: str,
        w: np.ndarray,
        bias: np.ndarray | float | None,
        alpha: float,
        beta: float,
    ) -> None:
        """y = alpha · W x + beta · bias with W (out, in)."""
        n_in = self.runtime(node, x)
        n_out = w.shape[0]
        if w.shape[1] != n_in:
            self.fail(node, f"weight of shape {w.shape} does not take an input of {n_in}")
        input_major = self.dense_loop == "input"
        wname = self.constant(w.T if input_major else w, f"{node.name}_W{'T' if input_major else ''}")
        y = self.new_value(node.output[0], n_out)
        xs = self.ref(x)
        if bias is None:
            init = "0.0f"
        elif isinstance(bias, float):
            init = c_float(bias)
        else:
            init = f"{self.constant(bias, f'{node.name}_b')}[o]"
        add = "" if bias is None else (f" + {init}" if beta == 1.0 else f" + {c_float(beta)} * {init}")
        # the sum, as alpha scales it: y[o] input-major (it accumulates as `acc` does output-major:
        # 0, then + w[o][i] · x[i] for i = 0, 1, …), `acc` output-major
        sum_ = "y[o]" if input_major else "acc"
        acc = sum_ if alpha == 1.0 else f"{c_float(alpha)} * {sum_}"
        if input_major:
            self.emit(node, [
                "{",
                f"    float *y = {y};",
                f"    for (o = 0; o < {n_out}; ++o) y[o] = 0.0f;",
                f"    for (i = 0; i < {n_in}; ++i) {{",
                f"        const float *w = &{wname}[i * {n_out}];",
                f"        const float xi = {xs}[i];",
                f"        for (o = 0; o < {n_out}; ++o) y[o] += w[o] * xi;",
                "    }",
                f"    for (o = 0; o < {n_out}; ++o) y[o] = {acc}{add};",
                "}",
            ])  # fmt: skip
        else:
            self.emit(node, [
                f"for (o = 0; o < {n_out}; ++o) {{",
                f"    const float *w = &{wname}[o * {n_in}];",
                "    float acc = 0.0f;",
                f"    for (i = 0; i < {n_in}; ++i) acc += w[i] * {xs}[i];",
                f"    {y}[o] = {acc}{add};",
                "}",
            ])  # fmt: skip
        self.macs += n_in * n_out

    def op_gemm(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        if a not in self.width or b not in self.const:
            self.fail(node, "only Gemm(runtime row, constant weight[, constant bias]) is supported")
        if self.attr(node, "transA", 0):
            self.fail(node, "transA=1 is not supported")
        w = np.asarray(self.const[b], np.float32)
        w = w if self.attr(node, "transB", 0) else w.T
        bias = None
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in self.const:
                self.fail(node, "the bias must be a constant")
            bias = self.vector_const(node, self.const[node.input[2]], w.shape[0])
        self._dense(node, a, np.ascontiguousarray(w), bias, float(self.attr(node, "alpha", 1.0)),
                    float(self.attr(node, "beta", 1.0)))  # fmt: skip

    def op_matmul(self, node: onnx.NodeProto) -> None:
        a, b = node.input
        if a not in self.width or b not in self.const or np.asarray(self.const[b]).ndim != 2:
            self.fail(node, "only MatMul(runtime row, constant 2-D weight) is supported")
        self._dense(node, a, np.ascontiguousarray(np.asarray(self.const[b], np.float32).T), None, 1.0, 1.0)

    def _binary(self, node: onnx.NodeProto) -> None:
        a, b = node.input
        op = ELEMENTWISE_BINARY[node.op_type]
        if a in self.const and b in self.const:  # fold, in float32 like ONNX Runtime would
            x, y = np.asarray(self.const[a], np.float32), np.asarray(self.const[b], np.float32)
            self.const[node.output[0]] = {"+": x + y, "-": x - y, "*": x * y, "/": x / y}[op]
            return
        n = self.width[a] if a in self.width else self.runtime(node, b)

        def operand(name: str) -> str:
            if name in self.width:
                if self.width[name] != n:
                    self.fail(node, f"operands of lengths {self.width[name]} and {n} do not match")
                return f"{self.ref(name)}[i]"
            if name not in self.const:
                self.fail(node, f"input '{name}' is unknown")
            v = self.vector_const(node, self.const[name], n)
            return c_float(v) if isinstance(v, float) else f"{self.constant(v, f'{node.name}_{name}')}[i]"

        xa, xb = operand(a), operand(b)
        y = self.new_value(node.output[0], n)
        self.emit(node, [f"for (i = 0; i < {n}; ++i) {y}[i] = {xa} {op} {xb};"])

    op_add = op_sub = op_mul = op_div = _binary

    def _unary(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        n = self.runtime(node, x)
        xs = f"{self.ref(x)}[i]"
        t = node.op_type
        if t == "Relu":
            expr = f"{xs} > 0.0f ? {xs} : 0.0f"
        elif t == "LeakyRelu":
            expr = f"{xs} >= 0.0f ? {xs} : {c_float(self.attr(node, 'alpha', 0.01))} * {xs}"
        elif t == "Elu":
            alpha = float(self.attr(node, "alpha", 1.0))
            scaled = "" if alpha == 1.0 else f"{c_float(alpha)} * "
            expr = f"{xs} >= 0.0f ? {xs} : {scaled}(expf({xs}) - 1.0f)"
            self.transcendentals += n
        elif t == "Tanh":
            expr = f"tanhf({xs})"
            self.transcendentals += n
        elif t == "Sigmoid":
            expr = f"1.0f / (1.0f + expf(-{xs}))"
            self.transcendentals += n
        elif t == "Neg":
            expr = f"-{xs}"
        elif t == "Identity":
            expr = xs
        else:  # Clip: bounds as inputs (opset ≥ 11) or attributes (older)
            lo = hi = None
            if len(node.input) > 1 and node.input[1]:
                lo = self.const.get(node.input[1])
                if lo is None:
                    self.fail(node, "the lower bound must be a constant")
            if len(node.input) > 2 and node.input[2]:
                hi = self.const.get(node.input[2])
                if hi is None:
                    self.fail(node, "the upper bound must be a constant")
            lo = self.attr(node, "min", None) if lo is None else float(np.asarray(lo).ravel()[0])
            hi = self.attr(node, "max", None) if hi is None else float(np.asarray(hi).ravel()[0])
            expr = xs
            if lo is not None:
                expr = f"({expr} < {c_float(lo)} ? {c_float(lo)} : {expr})"
            if hi is not None:
                expr = f"({expr} > {c_float(hi)} ? {c_float(hi)} : {expr})"
        y = self.new_value(node.output[0], n)
        self.emit(node, [f"for (i = 0; i < {n}; ++i) {y}[i] = {expr};"])

    op_relu = op_leakyrelu = op_elu = op_tanh = op_sigmoid = op_clip = op_neg = op_identity = _unary

    def _relabel(self, node: onnx.NodeProto) -> None:
        """Flatten/Reshape/Squeeze/Unsqueeze of a row vector: the same floats, the same buffer."""
        x = node.input[0]
        n = self.runtime(node, x)
        if node.op_type == "Reshape":
            shape = self.const.get(node.input[1])
            if shape is None or int(np.prod([d for d in np.asarray(shape) if d > 0])) not in (n, 1):
                self.fail(node, "only a reshape that keeps a row vector a row vector is supported")
        self.width[node.output[0]] = n
        self.location[node.output[0]] = self.location[x]
        self.aliases[node.output[0]] = x

    op_flatten = op_reshape = op_squeeze = op_unsqueeze = _relabel

    def op_slice(self, node: onnx.NodeProto) -> None:
        x = node.input[0]
        n = self.runtime(node, x)
        args = [self.const.get(name) if name else None for name in node.input[1:]]
        if any(a is None for a in args[:2]) or any(
            name and name not in self.const for name in node.input[1:]
        ):
            self.fail(node, "starts/ends/axes/steps must be constants")
        starts, ends = (np.asarray(a).ravel() for a in args[:2])
        given = [np.asarray(a).ravel() if a is not None else None for a in args[2:4]] + [None, None]
        axes = given[0] if given[0] is not None else np.arange(len(starts))
        steps = given[1] if given[1] is not None else np.ones_like(starts)
        if len(starts) != 1 or int(axes[0]) not in (-1, 1) or int(steps[0]) != 1:
            self.fail(node, "only a unit-step slice along the last axis is supported")
        start, stop, _ = slice(int(starts[0]), int(ends[0])).indices(n)
        m = max(0, stop - start)
        y = self.new_value(node.output[0], m)
        self.emit(node, [f"for (i = 0; i < {m}; ++i) {y}[i] = {self.ref(x)}[{start} + i];"])


def _row_size(value_info: onnx.ValueInfoProto) -> int:
    """Floats per batch row of a graph input/output (dynamic dims count as the batch of one)."""
    dims = value_info.type.tensor_type.shape.dim
    return int(np.prod([d.dim_value for d in dims if d.HasField("dim_value")] or [1]))


def generate(path: str | Path, prefix: str = DEFAULT_PREFIX) -> CPolicy:
    """Read an exported policy and return its C source and header (see the module docstring)."""
    path = Path(path)
    _check_prefix(prefix)
    return _generate(onnx.load(str(path)), prefix, str(path), path.name)


def generate_from_model(
    model: onnx.ModelProto | bytes,
    prefix: str = DEFAULT_PREFIX,
    name: str = "policy.onnx",
    dense_loop: str = "output",
) -> CPolicy:
    """As generate(), from a model already in memory (a ModelProto, or the file's bytes as read and
    verified by the caller, e.g. deploy.provenance): the file is not read again. `name` names the
    model in messages and in the generated files' comments; `dense_loop` is one of DENSE_LOOPS."""
    _check_prefix(prefix)
    if isinstance(model, (bytes, bytearray, memoryview)):
        model = onnx.load_from_string(bytes(model))
    return _generate(model, prefix, name, Path(name).name, dense_loop)


def _check_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prefix):
        raise ValueError(f"prefix '{prefix}' is not a C identifier")


def _generate(
    model: onnx.ModelProto, prefix: str, path: str, file_name: str, dense_loop: str = "output"
) -> CPolicy:
    """The generator proper; `path` names the model in errors, `file_name` in the generated comments."""
    metadata = {p.key: p.value for p in model.metadata_props}
    contract = read_contract(metadata, path)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    outputs = list(model.graph.output)
    names_in, names_out = [i.name for i in inputs], [o.name for o in outputs]
    if OBS_INPUT not in names_in or ACTION_OUTPUT not in names_out:
        raise UnsupportedGraphError(
            f"{path}: expected an input '{OBS_INPUT}' and an output '{ACTION_OUTPUT}', found {names_in} and "
            f"{names_out}; export with `tether export`"
        )
    state_in = [i for i in inputs if i.name != OBS_INPUT]
    state_out = [o for o in outputs if o.name != ACTION_OUTPUT]
    if len(state_in) != len(state_out):
        raise UnsupportedGraphError(
            f"{path}: recurrent state inputs {[i.name for i in state_in]} do not pair with state outputs "
            f"{[o.name for o in state_out]}"
        )
    for i, o in zip(state_in, state_out, strict=True):
        if _row_size(i) != _row_size(o):
            raise UnsupportedGraphError(f"{path}: state '{i.name}' and '{o.name}' differ in size")
    n_obs, n_act = contract.observation_size, contract.action_size

    gen = _Generator(model, prefix, path, dense_loop)
    gen.aliases = {}
    gen.width[OBS_INPUT] = n_obs
    gen.location[OBS_INPUT] = "obs"
    state_fields = []
    for k, spec in enumerate(state_in):
        size = _row_size(spec)
        member = f"s{k}"
        state_fields.append((member, size, spec.name, state_out[k].name))
        gen.width[spec.name] = size
        gen.location[spec.name] = f"state->{member}"
    gen.run([s.name for s in state_in])
    for name, want in [(ACTION_OUTPUT, n_act)] + [(f[3], f[1]) for f in state_fields]:
        if name not in gen.width:
            raise UnsupportedGraphError(f"{path}: output '{name}' is not computed by a supported node")
        if gen.width[name] != want:
            raise UnsupportedGraphError(
                f"{path}: output '{name}' has {gen.width[name]} values, expected {want}"
            )

    body, slots, slot_size = _allocate(gen, [ACTION_OUTPUT] + [f[3] for f in state_fields])
    scratch = slots * slot_size
    p = prefix
    P = prefix.upper()
    recurrent = bool(state_fields)
    task = metadata.get(META_TASK, contract.task)
    sha = contract.sha256()
    args = f"const float obs[{P}_OBS_SIZE], float action[{P}_ACT_SIZE]"
    sig = f"void {p}_act({p}_state_t *state, {args})" if recurrent else f"void {p}_act({args})"
    guard = f"{P}_H"
    header = [
        f"/* {p}.h: generated by deploy/c_export.py from {file_name}; do not edit.",
        f" * Task '{task}'. Observation and action layout: the policy contract with the SHA-256 below",
        " * (the ONNX file's metadata, tether_contract, lists its terms in order).",
        " * Float32, no malloc, no recursion; the scratch buffer is static: call from one task only. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f'#define {P}_CONTRACT_SHA256 "{sha}"',
        f'#define {P}_TASK "{task}"',
        f"#define {P}_OBS_SIZE {n_obs}",
        f"#define {P}_ACT_SIZE {n_act}",
        f"#define {P}_CONTROL_RATE_HZ {contract.control_rate_hz:g}",
        f"#define {P}_RECURRENT {int(recurrent)}",
        f"#define {P}_STATE_SIZE {sum(f[1] for f in state_fields)}",
        f"#define {P}_PARAMETERS {gen.parameters}  /* float constants in flash: x4 bytes */",
        f"#define {P}_MACS {gen.macs}  /* multiply-accumulates per call */",
        f"#define {P}_TRANSCENDENTALS {gen.transcendentals}  /* expf/tanhf calls per call */",
        f"#define {P}_SCRATCH_FLOATS {scratch}  /* static RAM: x4 bytes */",
        "",
    ]
    if recurrent:
        header += ["typedef struct {"]
        header += [f"    float {m}[{n}];  /* '{i}' -> '{o}' */" for m, n, i, o in state_fields]
        header += [f"}} {p}_state_t;", "", "/* Zero the recurrent state: on every (re)start. */",
                   f"void {p}_reset({p}_state_t *state);", ""]  # fmt: skip
    header += [
        "/* One control step: action[] from obs[] (normalization is inside). */",
        f"{sig};",
        "",
        f"#endif /* {guard} */",
        "",
    ]
    src = [
        f"/* {p}.c: generated by deploy/c_export.py from {file_name}; do not edit.",
        f" * Operators: {' '.join(dict.fromkeys(gen.ops))}. */",
        f'#include "{p}.h"',
        "",
        "#include <math.h>",
        "",
        *gen.arrays,
        f"static float {p}_scratch[{slots}][{slot_size}];",
        "",
    ]
    if recurrent:
        src += [f"void {p}_reset({p}_state_t *state)", "{", "    int i;"]
        src += [f"    for (i = 0; i < {n}; ++i) state->{m}[i] = 0.0f;" for m, n, _, _ in state_fields]
        src += ["}", ""]
    uses = "\n".join(body)
    src += [sig, "{", "    int i;"]
    if "for (o = 0;" in uses:
        src += ["    int o;"]
    src += [uses]
    src += [f"    for (i = 0; i < {n_act}; ++i) action[i] = {_loc(gen, ACTION_OUTPUT)}[i];"]
    for m, n, _, out in state_fields:  # after everything that read the old state
        src += [f"    for (i = 0; i < {n}; ++i) state->{m}[i] = {_loc(gen, out)}[i];"]
    src += ["}", ""]
    return CPolicy(
        prefix=p, header="\n".join(header), source="\n".join(src), obs_size=n_obs, action_size=n_act,
        state_size=sum(f[1] for f in state_fields), parameters=gen.parameters, macs=gen.macs,
        transcendentals=gen.transcendentals, scratch_floats=scratch, ops=list(dict.fromkeys(gen.ops)),
    )  # fmt: skip


def _loc(gen: _Generator, name: str) -> str:
    return gen.resolved[name]


def _allocate(gen: _Generator, outputs: list[str]) -> tuple[list[str], int, int]:
    """Assign each computed value a row of the scratch buffer, reusing rows whose values are dead.

    Returns (body lines with the symbolic slots replaced, rows, floats per row). A value's row is
    taken before its node's inputs are released, so no node writes a row it is still reading.
    """
    root = {}
    for name in gen.width:
        r = name
        while r in gen.aliases:
            r = gen.aliases[r]
        root[name] = r
    computed = [n for n in gen.width if gen.location[n].startswith("@") and root[n] == n]
    last_use: dict[str, int] = {}
    for k, node in enumerate(gen.model.graph.node):
        for name in node.input:
            if name in root:
                last_use[root[name]] = k
    for name in outputs:
        last_use[root[name]] = len(gen.model.graph.node)  # read at the end
    producer = {}
    for k, node in enumerate(gen.model.graph.node):
        for name in node.output:
            if name in computed:
                producer[name] = k
    free: list[int] = []
    rows = 0
    slot_of: dict[str, int] = {}
    for k in range(len(gen.model.graph.node)):
        for name in [n for n in computed if producer.get(n) == k]:
            if free:
                slot_of[name] = free.pop()
            else:
                slot_of[name] = rows
                rows += 1
        for name, slot in list(slot_of.items()):
            if last_use.get(name, producer.get(name)) == k and slot not in free:
                free.append(slot)
    width = max([gen.width[n] for n in computed] or [1])
    gen.resolved = {}
    for name in gen.width:
        r = root[name]
        gen.resolved[name] = f"{gen.prefix}_scratch[{slot_of[r]}]" if r in slot_of else gen.location[r]
    body = []
    for line in gen.body:
        for name in re.findall(r"@([^@]+)@", line):
            line = line.replace(f"@{name}@", gen.resolved[name])
        body.append(line)
    return body, max(rows, 1), width


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.c_export",
        description="Write dependency-free C99 (PREFIX.c, PREFIX.h) for an exported Tether policy.",
    )
    parser.add_argument("policy", type=Path, help="an ONNX policy written by `tether export`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="directory for PREFIX.c/.h")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"C name prefix (default {DEFAULT_PREFIX})")
    args = parser.parse_args(argv)
    try:
        policy = generate(args.policy, args.prefix)
    except UnsupportedGraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    h, c = policy.write(args.output)
    print(f"wrote {c} and {h}: {summary(policy)}")
    return 0


def summary(policy: CPolicy) -> str:
    return (
        f"{policy.obs_size} observations -> {policy.action_size} actions, {policy.parameters} parameters "
        f"({policy.flash_constant_bytes} bytes of constants), {policy.macs} MACs, "
        f"{policy.transcendentals} expf/tanhf, {policy.ram_bytes} bytes of scratch+state RAM"
    )


if __name__ == "__main__":
    sys.exit(main())
