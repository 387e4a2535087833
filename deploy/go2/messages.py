"""The Go2's low-level message types, as the official SDK defines them, for Tether's DDS transport.

Source: the official Python SDK, PyPI `unitree-sdk2` 1.0.1 (module `unitree_sdk2py`,
`unitree_sdk2py/idl/unitree_go/msg/dds_/_LowCmd_.py`, `_LowState_.py`, `_MotorCmd_.py`,
`_MotorState_.py`, `_IMUState_.py`, `_BmsCmd_.py`, `_BmsState_.py`, `_SportModeState_.py`,
`_TimeSpec_.py`, `_PathPoint_.py`). Those are Cyclone DDS IdlStructs (final extensibility,
sequential member ids) named `unitree_go.msg.dds_.<Type>_`; the same field lists are written below
in the .msg form of Unitree's ROS 2 package (unitree_ros2's `unitree_go`), field for field and in
the SDK's order, and registered in the rosbags type store the transport generates its DDS types
from (deploy/transport/messages.py). So `unitree_go/msg/LowCmd` becomes the DDS type
`unitree_go::msg::dds_::LowCmd_` with the SDK's layout, serialized by Tether's Cyclone DDS 11 as
plain CDR, and rosbags can serialize and record it as well.

Why not import the SDK: it pins cyclonedds 0.10.2, this project runs 11.0.1 (one DDS library per
process), and it ships more than the types (RPC clients, OpenCV). tests/test_go2_messages.py
proves the definitions equal: CDR bytes and CRC of filled messages equal the bytes the SDK's own
classes and CRC routine produced (recorded by tests/data/record_unitree_sdk_reference.py from
the SDK wheel, installed without its pins), and live against the SDK when it is importable.
"""

from __future__ import annotations

import functools

#: .msg definitions of the SDK's unitree_go IDL types (name → text), in the SDK's field order.
#: ROS `uint8` is the IDL `octet`/`uint8`; fixed arrays are `type[N]`.
MSG_DEFINITIONS: dict[str, str] = {
    "unitree_go/msg/MotorCmd": """
uint8 mode
float32 q
float32 dq
float32 tau
float32 kp
float32 kd
uint32[3] reserve
""",
    "unitree_go/msg/BmsCmd": """
uint8 off
uint8[3] reserve
""",
    "unitree_go/msg/LowCmd": """
uint8[2] head
uint8 level_flag
uint8 frame_reserve
uint32[2] sn
uint32[2] version
uint16 bandwidth
unitree_go/MotorCmd[20] motor_cmd
unitree_go/BmsCmd bms_cmd
uint8[40] wireless_remote
uint8[12] led
uint8[2] fan
uint8 gpio
uint32 reserve
uint32 crc
""",
    "unitree_go/msg/IMUState": """
float32[4] quaternion
float32[3] gyroscope
float32[3] accelerometer
float32[3] rpy
uint8 temperature
""",
    "unitree_go/msg/MotorState": """
uint8 mode
float32 q
float32 dq
float32 ddq
float32 tau_est
float32 q_raw
float32 dq_raw
float32 ddq_raw
uint8 temperature
uint32 lost
uint32[2] reserve
""",
    "unitree_go/msg/BmsState": """
uint8 version_high
uint8 version_low
uint8 status
uint8 soc
int32 current
uint16 cycle
uint8[2] bq_ntc
uint8[2] mcu_ntc
uint16[15] cell_vol
""",
    "unitree_go/msg/LowState": """
uint8[2] head
uint8 level_flag
uint8 frame_reserve
uint32[2] sn
uint32[2] version
uint16 bandwidth
unitree_go/IMUState imu_state
unitree_go/MotorState[20] motor_state
unitree_go/BmsState bms_state
int16[4] foot_force
int16[4] foot_force_est
uint32 tick
uint8[40] wireless_remote
uint8 bit_flag
float32 adc_reel
uint8 temperature_ntc1
uint8 temperature_ntc2
float32 power_v
float32 power_a
uint16[4] fan_frequency
uint32 reserve
uint32 crc
""",
    "unitree_go/msg/TimeSpec": """
int32 sec
uint32 nanosec
""",
    "unitree_go/msg/PathPoint": """
float32 t_from_start
float32 x
float32 y
float32 yaw
float32 vx
float32 vy
float32 vyaw
""",
    "unitree_go/msg/SportModeState": """
unitree_go/TimeSpec stamp
uint32 error_code
unitree_go/IMUState imu_state
uint8 mode
float32 progress
uint8 gait_type
float32 foot_raise_height
float32[3] position
float32 body_height
float32[3] velocity
float32 yaw_speed
float32[4] range_obstacle
int16[4] foot_force
float32[12] foot_position_body
float32[12] foot_speed_body
unitree_go/PathPoint[10] path_point
""",
}

LOW_CMD = "unitree_go/msg/LowCmd"
LOW_STATE = "unitree_go/msg/LowState"
SPORT_MODE_STATE = "unitree_go/msg/SportModeState"
#: Slots in LowCmd_.motor_cmd / LowState_.motor_state (the Go2 uses the first 12).
MOTOR_SLOTS = 20
#: The SDK's motor order (unitree_legged_const LegID: FR_0..RL_2), in Tether's joint names.
SDK_MOTOR_ORDER: tuple[str, ...] = (
    "FR_hip", "FR_thigh", "FR_calf", "FL_hip", "FL_thigh", "FL_calf",
    "RR_hip", "RR_thigh", "RR_calf", "RL_hip", "RL_thigh", "RL_calf",
)  # fmt: skip
#: Header, level flag and motor mode the SDK's low-level examples send (go2_stand_example.py).
HEAD = (0xFE, 0xEF)
LOW_LEVEL = 0xFF
MOTOR_MODE_SERVO = 0x01  # PMSM (FOC) servo mode; 0x00 stops the motor
#: "No position / velocity control" markers of unitree_legged_const (PosStopF, VelStopF).
POS_STOP_F = 2.146e9
VEL_STOP_F = 16000.0


@functools.cache
def register() -> None:
    """Add the unitree_go types to the transport's type store (idempotent); after this,
    `transport.make("unitree_go/msg/LowCmd")`, publishers and subscriptions work as for ROS types."""
    from rosbags.typesys import get_types_from_msg

    from deploy.transport.messages import typestore

    store = typestore()
    types: dict = {}
    for name, text in MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
