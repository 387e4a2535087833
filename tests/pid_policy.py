"""The PID baseline (deploy/pid.py) written as an ONNX policy with a Tether contract, built without torch.

pid_policy() writes a recurrent ONNX graph that computes, from the hover contract's observation,
what QuadrotorPid computes from a RobotState: position PID → thrust direction and collective →
attitude error on SO(3) → body-rate PI → torques → per-motor thrust → normalized commands. Its two
integrators (position and body rate) are the graph's recurrent state, which PolicyFile keeps per
row and zeroes at every episode start, as QuadrotorPid.reset does. The vehicle constants are the
nominal ones and the gains those of deploy/pid_quadrotor.yaml.

It reads the observation a policy reads (with its noise), not the true state, so it is a real
policy whose flights the evaluation and the gate measure; tests/test_gate.py uses it for the
gate's PASSED branch (the PID flies well inside the gate) and tests/test_pid.py checks that it
computes the same actions as QuadrotorPid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deploy.contract import Contract
from deploy.pid import PidGains
from deploy.policy_file import META_CONTRACT, META_CONTRACT_SHA256, META_TASK
from deploy.quadrotor_params import GRAVITY_M_S2, QuadrotorParams
from sim.tasks.quadrotor_hover import HoverConfig

STATE_INPUT = "pid_integrals_in"
STATE_OUTPUT = "pid_integrals_out"
#: Observation terms the graph reads (each with history 1), by name.
TERMS = ("position_error_m", "rotation_matrix", "linear_velocity_error_m_s", "angular_velocity_rad_s")


class _Graph:
    """A few numpy-like helpers that append ONNX nodes (float32 throughout)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: object, dtype: type = np.float32) -> str:
        name = self._name("c")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        name = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attrs))
        return name

    def cols(self, x: str, start: int, stop: int) -> str:
        return self.op(
            "Slice", x, self.const([start], np.int64), self.const([stop], np.int64), self.const([1], np.int64)
        )

    def take(self, x: str, indices: list[int]) -> str:
        return self.op("Gather", x, self.const(indices, np.int64), axis=1)

    def add(self, a: str, b: str) -> str:
        return self.op("Add", a, b)

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", a, b)

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", a, b)

    def scale(self, x: str, factor: object) -> str:
        return self.mul(x, self.const(factor))

    def clamp(self, x: str, lo: object, hi: object) -> str:
        return self.op("Min", self.op("Max", x, self.const(lo)), self.const(hi))

    def norm(self, x: str) -> str:
        return self.op("ReduceL2", x, axes=[1], keepdims=1)

    def unit(self, x: str) -> str:
        return self.op("Div", x, self.op("Max", self.norm(x), self.const(1e-9)))

    def cross(self, a: str, b: str) -> str:
        yzx, zxy = [1, 2, 0], [2, 0, 1]
        return self.sub(
            self.mul(self.take(a, yzx), self.take(b, zxy)), self.mul(self.take(a, zxy), self.take(b, yzx))
        )


def _build(contract: Contract, params: QuadrotorParams, gains: PidGains) -> onnx.ModelProto:
    g = _Graph()
    dt = contract.control_dt_s
    terms = {t.name: t for t in contract.observations}
    where = contract.observation_slices()
    missing = [n for n in TERMS if n not in terms or terms[n].history != 1]
    if missing:
        raise ValueError(f"the PID policy needs the observation terms {missing} (history 1)")

    def term(name: str, sign: float = 1.0) -> str:  # the term in SI units (observation / scale)
        s = where[name]
        return g.scale(g.cols("obs", s.start, s.stop), sign / terms[name].scale)

    e_pos = term("position_error_m", -1.0)  # the observation is position − target
    e_vel = term("linear_velocity_error_m_s", -1.0)
    omega = term("angular_velocity_rad_s")
    rot_flat = term("rotation_matrix")  # body→world, row-major
    rot = g.op("Reshape", rot_flat, g.const([-1, 3, 3], np.int64))

    # Position PID → desired acceleration (world), limited to the tilt envelope.
    pos_int = g.clamp(
        g.add(g.cols(STATE_INPUT, 0, 3), g.scale(e_pos, dt)),
        -gains.pos_integral_limit_m_s,
        gains.pos_integral_limit_m_s,
    )
    acc = g.add(
        g.add(g.scale(e_pos, gains.pos_kp), g.scale(e_vel, gains.pos_kd)),
        g.add(g.scale(pos_int, gains.pos_ki), g.const([0.0, 0.0, GRAVITY_M_S2])),
    )
    acc_z = g.op("Max", g.cols(acc, 2, 3), g.const(0.2 * GRAVITY_M_S2))
    acc_xy = g.cols(acc, 0, 2)
    max_horiz = g.scale(acc_z, np.tan(gains.max_tilt_rad))
    limit = g.op("Min", g.const(1.0), g.op("Div", max_horiz, g.op("Max", g.norm(acc_xy), g.const(1e-9))))
    acc = g.op("Concat", g.mul(acc_xy, limit), acc_z, axis=1)

    # Collective thrust along the current body z; desired attitude from the thrust direction,
    # keeping the current heading (yaw hold: the body x axis projected on the horizontal plane).
    body_z = g.take(rot_flat, [2, 5, 8])
    collective = g.scale(
        g.op("ReduceSum", g.mul(acc, body_z), g.const([1], np.int64), keepdims=1), params.mass_kg
    )
    b3 = g.unit(acc)
    heading = g.unit(g.scale(g.take(rot_flat, [0, 3, 0]), [1.0, 1.0, 0.0]))
    b2 = g.unit(g.cross(b3, heading))
    b1 = g.cross(b2, b3)
    columns = [g.op("Unsqueeze", v, g.const([2], np.int64)) for v in (b1, b2, b3)]
    rot_des = g.op("Concat", *columns, axis=2)
    m = g.op("MatMul", g.op("Transpose", rot_des, perm=[0, 2, 1]), rot)
    skew = g.sub(m, g.op("Transpose", m, perm=[0, 2, 1]))
    e_rot = g.scale(g.take(g.op("Reshape", skew, g.const([-1, 9], np.int64)), [7, 2, 3]), 0.5)  # vee

    # Attitude → body-rate setpoint → rate PI → torque.
    rate_des = g.clamp(g.scale(e_rot, -gains.att_kp), -gains.max_rate_rad_s, gains.max_rate_rad_s)
    e_rate = g.sub(rate_des, omega)
    rate_int = g.clamp(
        g.add(g.cols(STATE_INPUT, 3, 6), g.scale(e_rate, dt)),
        -gains.rate_integral_limit_rad,
        gains.rate_integral_limit_rad,
    )
    ang_acc = g.add(g.scale(e_rate, gains.rate_kp), g.scale(rate_int, gains.rate_ki))
    inertia = np.asarray(params.inertia_kg_m2)
    torque = g.add(g.scale(ang_acc, inertia), g.cross(omega, g.scale(omega, inertia)))

    # Allocation, shifting the collective to keep roll/pitch authority when a motor saturates.
    wrench = g.op("Concat", collective, torque, axis=1)
    thrust = g.op("MatMul", wrench, g.const(np.linalg.pinv(params.allocation_matrix()).T))
    max_thrust = params.max_thrust_per_motor_n
    low = g.op("ReduceMin", thrust, axes=[1], keepdims=1)
    high = g.op("ReduceMax", thrust, axes=[1], keepdims=1)
    shift = g.sub(g.op("Relu", g.op("Neg", low)), g.op("Relu", g.sub(high, g.const(max_thrust))))
    thrust = g.clamp(g.add(thrust, shift), 0.0, max_thrust)
    w_min, w_max = params.min_rotor_speed_rad_s, params.max_rotor_speed_rad_s
    speed = g.op("Sqrt", g.scale(thrust, 1.0 / params.thrust_coefficient_n_per_rad_s2))
    u = g.clamp(g.scale(g.sub(speed, g.const(w_min)), 1.0 / (w_max - w_min)), 0.0, 1.0)
    g.op("Sub", g.scale(u, 2.0), g.const(1.0), out="action")
    g.op("Concat", pos_int, rate_int, axis=1, out=STATE_OUTPUT)

    graph = helper.make_graph(
        g.nodes,
        "pid_policy",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", contract.observation_size]),
            helper.make_tensor_value_info(STATE_INPUT, TensorProto.FLOAT, ["batch", 6]),
        ],
        [
            helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", contract.action_size]),
            helper.make_tensor_value_info(STATE_OUTPUT, TensorProto.FLOAT, ["batch", 6]),
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def pid_policy(path: Path, config: HoverConfig | None = None, gains: PidGains | None = None) -> Path:
    """Write the PID baseline as a recurrent ONNX policy for the hover task's contract."""
    config = config or HoverConfig.from_yaml()
    contract = config.contract()
    model = _build(contract, config.nominal_params(), gains or PidGains.from_yaml())
    text = contract.to_json()
    meta = {
        META_CONTRACT: text,
        META_TASK: contract.task,
        META_CONTRACT_SHA256: hashlib.sha256(text.encode()).hexdigest(),
    }
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path
