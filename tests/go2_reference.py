"""Filled Go2 messages for the SDK comparison (tests/test_go2_messages.py) and the recorder
(tests/data/record_unitree_sdk_reference.py): the same seed fills an SDK message and a Tether
message with the same content, whatever class each is."""

from __future__ import annotations

import platform
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_FILE = Path(__file__).parent / "data" / "unitree_sdk2_reference.json"
#: Environment variable naming a directory where `unitree-sdk2` is installed without its pins
#: (`pip install --no-deps --target DIR unitree-sdk2==1.0.1`); the tests then compare live too.
SDK_PATH_ENV = "UNITREE_SDK2PY_PATH"
SEEDS = (0, 1, 2, 3)


def _u(rng: np.random.Generator, bits: int, n: int | None = None) -> Any:
    v = rng.integers(0, 2**bits, size=n if n else 1, dtype=np.uint64).tolist()
    return v if n else v[0]


def _f(rng: np.random.Generator, n: int | None = None) -> Any:
    v = np.float32(rng.normal(0.0, 10.0, n if n else 1)).astype(float).tolist()
    return v if n else v[0]


def fill_low_cmd(msg: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    msg.head = _u(rng, 8, 2)
    msg.level_flag, msg.frame_reserve = _u(rng, 8), _u(rng, 8)
    msg.sn, msg.version, msg.bandwidth = _u(rng, 32, 2), _u(rng, 32, 2), _u(rng, 16)
    for m in msg.motor_cmd:
        m.mode = _u(rng, 8)
        m.q, m.dq, m.tau, m.kp, m.kd = _f(rng, 5)
        m.reserve = _u(rng, 32, 3)
    msg.bms_cmd.off, msg.bms_cmd.reserve = _u(rng, 8), _u(rng, 8, 3)
    msg.wireless_remote, msg.led, msg.fan = _u(rng, 8, 40), _u(rng, 8, 12), _u(rng, 8, 2)
    msg.gpio, msg.reserve, msg.crc = _u(rng, 8), _u(rng, 32), _u(rng, 32)
    return msg


def fill_low_state(msg: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed + 1000)
    msg.head = _u(rng, 8, 2)
    msg.level_flag, msg.frame_reserve = _u(rng, 8), _u(rng, 8)
    msg.sn, msg.version, msg.bandwidth = _u(rng, 32, 2), _u(rng, 32, 2), _u(rng, 16)
    imu = msg.imu_state
    imu.quaternion, imu.gyroscope, imu.accelerometer, imu.rpy = _f(rng, 4), _f(rng, 3), _f(rng, 3), _f(rng, 3)
    imu.temperature = _u(rng, 7)  # the SDK packs it signed: values it can pack
    for m in msg.motor_state:
        m.mode = _u(rng, 8)
        m.q, m.dq, m.ddq, m.tau_est, m.q_raw, m.dq_raw, m.ddq_raw = _f(rng, 7)
        m.temperature, m.lost, m.reserve = _u(rng, 7), _u(rng, 32), _u(rng, 32, 2)
    b = msg.bms_state
    b.version_high, b.version_low, b.status, b.soc = _u(rng, 8, 4)
    b.current = int(rng.integers(-(2**31), 2**31))
    b.cycle, b.bq_ntc, b.mcu_ntc, b.cell_vol = _u(rng, 16), _u(rng, 7, 2), _u(rng, 7, 2), _u(rng, 16, 15)
    msg.foot_force = rng.integers(-(2**15), 2**15, 4).tolist()
    msg.foot_force_est = rng.integers(-(2**15), 2**15, 4).tolist()
    msg.tick, msg.wireless_remote, msg.bit_flag = _u(rng, 32), _u(rng, 8, 40), _u(rng, 8)
    msg.adc_reel, msg.temperature_ntc1, msg.temperature_ntc2 = _f(rng), _u(rng, 7), _u(rng, 7)
    msg.power_v, msg.power_a = _f(rng, 2)
    msg.fan_frequency = _u(rng, 15, 4)  # packed signed by the SDK
    msg.reserve, msg.crc = _u(rng, 32), _u(rng, 32)
    return msg


def fill_sport_mode_state(msg: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed + 2000)
    msg.stamp.sec, msg.stamp.nanosec = int(rng.integers(-(2**31), 2**31)), _u(rng, 32)
    msg.error_code = _u(rng, 32)
    imu = msg.imu_state
    imu.quaternion, imu.gyroscope, imu.accelerometer, imu.rpy = _f(rng, 4), _f(rng, 3), _f(rng, 3), _f(rng, 3)
    imu.temperature = _u(rng, 8)
    msg.mode, msg.progress, msg.gait_type, msg.foot_raise_height = _u(rng, 8), _f(rng), _u(rng, 8), _f(rng)
    msg.position, msg.body_height, msg.velocity, msg.yaw_speed = _f(rng, 3), _f(rng), _f(rng, 3), _f(rng)
    msg.range_obstacle = _f(rng, 4)
    msg.foot_force = rng.integers(-(2**15), 2**15, 4).tolist()
    msg.foot_position_body, msg.foot_speed_body = _f(rng, 12), _f(rng, 12)
    for p in msg.path_point:
        p.t_from_start, p.x, p.y, p.yaw, p.vx, p.vy, p.vyaw = _f(rng, 7)
    return msg


FILLERS = {"LowCmd": fill_low_cmd, "LowState": fill_low_state, "SportModeState": fill_sport_mode_state}


def load_sdk(path: str | Path) -> tuple[dict[str, Any], Any]:
    """The SDK's default-message factories by type and its CRC object, imported from `path` (the
    wheel installed with --no-deps) without running the package's __init__ (which imports its RPC
    clients) and with its pure-Python CRC (the wheel's native CRC library is absent on some builds)."""
    root = Path(path) / "unitree_sdk2py"
    if "unitree_sdk2py" not in sys.modules:
        pkg = types.ModuleType("unitree_sdk2py")
        pkg.__path__ = [str(root)]  # type: ignore[attr-defined]
        sys.modules["unitree_sdk2py"] = pkg
    sys.path.insert(0, str(path))
    from unitree_sdk2py.idl import default
    from unitree_sdk2py.utils import crc as sdk_crc

    system = platform.system
    platform.system = lambda: "NotLinux"  # selects the SDK's own _crc_py
    try:
        crc = sdk_crc.CRC()
    finally:
        platform.system = system
    factories = {
        "LowCmd": default.unitree_go_msg_dds__LowCmd_,
        "LowState": default.unitree_go_msg_dds__LowState_,
        "SportModeState": default.unitree_go_msg_dds__SportModeState_,
    }
    return factories, crc
