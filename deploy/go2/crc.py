"""The CRC32 a Go2 checks on every LowCmd_ (and sets on its LowState_), as the SDK computes it.

The robot computes the CRC over the message's C struct in memory (little-endian, 4-byte aligned,
padding zero), taken as 32-bit words, all but the last (the `crc` field itself). The reference is
the official SDK's `unitree_sdk2py/utils/crc.py` (PyPI unitree-sdk2 1.0.1): its struct layouts
(`__packFmtLowCmd`, 812 bytes; `__packFmtLowState`, 1180 bytes) are used here with unsigned codes
where the IDL field is unsigned (the SDK packs a few uint8 / uint16 fields with signed codes: the
same bytes for every value it can pack), and its bitwise `_crc_py` (polynomial 0x04C11DB7, initial
value 0xFFFFFFFF, each word fed most significant bit first, no reflection, no final XOR) is, bit for
bit, CRC-32/MPEG-2 over the words written big-endian, computed here with a 256-entry table.
tests/test_go2_messages.py checks both against values the SDK's own code produced.
"""

from __future__ import annotations

import struct
from typing import Any

POLYNOMIAL = 0x04C11DB7
#: The robot's struct layouts (SDK crc.py), unsigned where the IDL says unsigned.
LOW_CMD_FORMAT = "<4B4IH2x" + "B3x5f3I" * 20 + "4B" + "55Bx2I"
LOW_STATE_FORMAT = "<4B4IH2x" + "13fB3x" + "B3x7fB3x3I" * 20 + "4BiH4B15H" + "8hI41B3xf2B2x2f4H2I"
LOW_CMD_SIZE = struct.calcsize(LOW_CMD_FORMAT)  # 812
LOW_STATE_SIZE = struct.calcsize(LOW_STATE_FORMAT)  # 1180


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        c = byte << 24
        for _ in range(8):
            c = ((c << 1) ^ POLYNOMIAL) if c & 0x80000000 else (c << 1)
            c &= 0xFFFFFFFF
        out.append(c)
    return tuple(out)


_TABLE = _table()


def crc32_words(packed: bytes) -> int:
    """The SDK's CRC over `packed` (the struct bytes) without its last 4 bytes (the crc field)."""
    n = (len(packed) // 4) - 1
    words = struct.unpack_from(f"<{n}I", packed)
    data = struct.pack(f">{n}I", *words)  # each word most significant byte first
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


def pack_low_cmd(msg: Any) -> bytes:
    """LowCmd_ as the robot's C struct (crc field included as it is in `msg`)."""
    values: list[Any] = [*msg.head, msg.level_flag, msg.frame_reserve, *msg.sn, *msg.version, msg.bandwidth]
    for m in msg.motor_cmd:
        values += [m.mode, m.q, m.dq, m.tau, m.kp, m.kd, *m.reserve]
    values += [msg.bms_cmd.off, *msg.bms_cmd.reserve, *msg.wireless_remote, *msg.led, *msg.fan]
    values += [msg.gpio, msg.reserve, msg.crc]
    return struct.pack(LOW_CMD_FORMAT, *values)


def pack_low_state(msg: Any) -> bytes:
    """LowState_ as the robot's C struct (crc field included as it is in `msg`)."""
    imu = msg.imu_state
    values: list[Any] = [*msg.head, msg.level_flag, msg.frame_reserve, *msg.sn, *msg.version, msg.bandwidth]
    values += [*imu.quaternion, *imu.gyroscope, *imu.accelerometer, *imu.rpy, imu.temperature]
    for m in msg.motor_state:
        values += [m.mode, m.q, m.dq, m.ddq, m.tau_est, m.q_raw, m.dq_raw, m.ddq_raw, m.temperature, m.lost]
        values += list(m.reserve)
    b = msg.bms_state
    values += [b.version_high, b.version_low, b.status, b.soc, b.current, b.cycle, *b.bq_ntc, *b.mcu_ntc]
    values += [*b.cell_vol, *msg.foot_force, *msg.foot_force_est, msg.tick, *msg.wireless_remote]
    values += [msg.bit_flag, msg.adc_reel, msg.temperature_ntc1, msg.temperature_ntc2, msg.power_v]
    values += [msg.power_a, *msg.fan_frequency, msg.reserve, msg.crc]
    return struct.pack(LOW_STATE_FORMAT, *values)


def low_cmd_crc(msg: Any) -> int:
    return crc32_words(pack_low_cmd(msg))


def low_state_crc(msg: Any) -> int:
    return crc32_words(pack_low_state(msg))
