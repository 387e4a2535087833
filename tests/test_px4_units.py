"""PX4 interface units: frame conversion (known poses, round trips), motor order by position,
and the px4_msgs definitions (registered from .msg files; skipped, with the reason, where absent)."""

import math

import numpy as np
import pytest

from deploy.px4 import frames
from deploy.px4.motors import MotorMappingError, Px4Rotor, from_px4_controls, map_motors, to_px4_controls
from deploy.rotations import quat_from_axis_angle, quat_multiply, rotate_body_to_world

S = math.sqrt(0.5)


def _same_rotation(a, b):
    return np.allclose(a, b, atol=1e-12) or np.allclose(a, -np.asarray(b), atol=1e-12)


# -- frames ---------------------------------------------------------------------------------------


def test_world_vectors_enu_to_ned_known_values():
    # 1 m east, 2 m north, 3 m up → north 2, east 1, down -3
    assert np.allclose(frames.enu_to_ned([1.0, 2.0, 3.0]), [2.0, 1.0, -3.0])
    assert np.allclose(frames.ned_to_enu([2.0, 1.0, -3.0]), [1.0, 2.0, 3.0])


def test_body_vectors_flu_to_frd_known_values():
    # rolling left (FLU +x rate) is rolling left in FRD too; yawing left (FLU +z) is -z in FRD
    assert np.allclose(frames.flu_to_frd([0.1, 0.2, 0.3]), [0.1, -0.2, -0.3])
    assert np.allclose(frames.frd_to_flu([0.1, -0.2, -0.3]), [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "q_enu_flu, q_ned_frd, what",
    [
        ([1.0, 0.0, 0.0, 0.0], [S, 0.0, 0.0, S], "nose east, level: PX4 yaw +90° (east of north)"),
        ([S, 0.0, 0.0, S], [1.0, 0.0, 0.0, 0.0], "nose north (ENU yaw +90°): PX4 identity"),
        ([S, 0.0, 0.0, -S], [0.0, 0.0, 0.0, 1.0], "nose south: PX4 yaw 180°"),
    ],
)
def test_attitude_known_poses(q_enu_flu, q_ned_frd, what):
    assert _same_rotation(frames.quat_enu_flu_to_ned_frd(np.array(q_enu_flu)), q_ned_frd), what
    assert _same_rotation(frames.quat_ned_frd_to_enu_flu(np.array(q_ned_frd)), q_enu_flu), what


def test_attitude_roll_right_is_positive_px4_roll():
    # Nose north, right wing down 30°: in FLU that is a rotation of +30° about body x (y left goes up),
    # in FRD (y right goes down) a positive roll about the forward axis as well.
    nose_north = np.array([S, 0.0, 0.0, S])
    q_enu = quat_multiply(nose_north, quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), math.radians(30.0)))
    q_ned = frames.quat_enu_flu_to_ned_frd(q_enu)
    assert _same_rotation(q_ned, [math.cos(math.radians(15.0)), math.sin(math.radians(15.0)), 0.0, 0.0])


def test_attitude_and_vectors_agree_on_random_poses():
    """Rotating a body vector in Tether's frames equals rotating it in PX4's, for any pose."""
    rng = np.random.default_rng(0)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    v_flu = rng.normal(size=(200, 3))
    world_enu = rotate_body_to_world(q, v_flu)
    q_ned = frames.quat_enu_flu_to_ned_frd(q)
    world_ned = rotate_body_to_world(q_ned, frames.flu_to_frd(v_flu))
    assert np.allclose(frames.enu_to_ned(world_enu), world_ned, atol=1e-12)


def test_round_trips_are_exact():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    back = frames.quat_ned_frd_to_enu_flu(frames.quat_enu_flu_to_ned_frd(q))
    sign = np.sign(np.sum(back * q, axis=1, keepdims=True))
    assert np.allclose(back * sign, q, atol=1e-12)
    v = rng.normal(size=(500, 3))
    assert np.allclose(frames.ned_to_enu(frames.enu_to_ned(v)), v)
    assert np.allclose(frames.frd_to_flu(frames.flu_to_frd(v)), v)


# -- motors ---------------------------------------------------------------------------------------

# PX4's generic quad X (as deploy/px4/px4_quad_x.yaml): 1 front right CCW, 2 rear left CCW,
# 3 front left CW, 4 rear right CW (CA_ROTOR*_PX/PY in FRD)
QUAD_X = [Px4Rotor(1.0, 1.0, 1), Px4Rotor(-1.0, -1.0, 1), Px4Rotor(1.0, -1.0, -1), Px4Rotor(-1.0, 1.0, -1)]
# The simulated Crazyflie: motor_0..3 front-left, back-left, back-right, front-right (FLU angles)
NAMES = ["motor_0", "motor_1", "motor_2", "motor_3"]
ANGLES = [45.0, 135.0, 225.0, 315.0]
SPINS = [-1, 1, -1, 1]


def test_motors_map_by_position_and_spin():
    index = map_motors(NAMES, ANGLES, SPINS, QUAD_X)
    assert index == (2, 1, 3, 0)  # FL → PX4 motor 3, BL → 2, BR → 4, FR → 1
    cmd = np.array([0.1, 0.2, 0.3, 0.4])
    control = to_px4_controls(cmd, index)
    assert control[:4] == pytest.approx([0.4, 0.2, 0.1, 0.3])
    assert all(math.isnan(c) for c in control[4:]) and len(control) == 12
    assert np.allclose(from_px4_controls(control, index), cmd)


def test_controls_are_clipped_to_unit_range():
    control = to_px4_controls(np.array([-0.5, 1.5, 0.5, 0.5]), (0, 1, 2, 3))
    assert control[:4] == [0.0, 1.0, 0.5, 0.5]


@pytest.mark.parametrize(
    "angles, spins, rotors, reason",
    [
        ([45.0, 135.0, 225.0, 300.0], SPINS, QUAD_X, "no PX4 rotor within"),
        (ANGLES, [1, 1, -1, 1], QUAD_X, "spins"),
        (ANGLES, SPINS, QUAD_X[:3], "the PX4 geometry has 3 rotors"),
        ([45.0, 45.0, 225.0, 315.0], [-1, -1, -1, 1], QUAD_X, "both map to PX4 motor"),
    ],
)
def test_unmappable_motors_are_refused_with_the_reason(angles, spins, rotors, reason):
    with pytest.raises(MotorMappingError, match="px4_motor_mapping") as exc:
        map_motors(NAMES, angles, spins, rotors)
    assert reason in str(exc.value)


# -- message definitions --------------------------------------------------------------------------


def test_the_shipped_definitions_are_found_without_a_px4_msgs_checkout(monkeypatch):
    from deploy.px4 import messages

    monkeypatch.delenv(messages.ENV_VAR, raising=False)
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    found = messages.find_msg_dir()
    assert found in (messages.SHIPPED_MSG_DIR, messages._REPO.parent / "shared" / "px4_msgs" / "msg")
    assert all((messages.SHIPPED_MSG_DIR / f"{m}.msg").exists() for m in messages.MESSAGES)


def test_definitions_missing_says_where_it_looked(tmp_path, monkeypatch):
    from deploy.px4 import messages

    monkeypatch.setenv(messages.ENV_VAR, str(tmp_path))
    monkeypatch.setenv("AMENT_PREFIX_PATH", "")
    monkeypatch.setattr(messages, "SHIPPED_MSG_DIR", tmp_path / "not-shipped")
    with pytest.raises(messages.Px4DefinitionsMissingError) as exc:
        messages.find_msg_dir(tmp_path / "nope")
    text = str(exc.value)
    assert "VehicleOdometry.msg" in text and str(tmp_path) in text and "msg_dir" in text


def test_constants_and_versioned_topics_come_from_the_definitions(px4_types):
    from deploy.px4 import messages

    assert messages.constant("VehicleStatus", "NAVIGATION_STATE_OFFBOARD") == 14
    assert messages.constant("VehicleOdometry", "POSE_FRAME_NED") == 1
    v = messages.message_version("VehicleStatus")
    expect = "/fmu/out/vehicle_status" + (f"_v{v}" if v > 0 else "")
    assert messages.topic_name("/fmu/out/vehicle_status", "VehicleStatus", True) == expect
    assert messages.topic_name("/fmu/out/vehicle_status", "VehicleStatus", False) == "/fmu/out/vehicle_status"
    with pytest.raises(ValueError, match="declares no constant"):
        messages.constant("VehicleStatus", "NO_SUCH_THING")


@pytest.mark.parametrize(
    "name, values",
    [
        (
            "VehicleOdometry",
            {
                "timestamp": 123456789,
                "timestamp_sample": 123456000,
                "pose_frame": 1,
                "position": [1.0, -2.0, -3.0],
                "q": [1.0, 0.0, 0.0, 0.0],
                "velocity_frame": 1,
                "velocity": [0.5, 0.25, -0.125],
                "angular_velocity": [0.1, 0.2, 0.3],
                "reset_counter": 3,
                "quality": -1,
            },
        ),
        (
            "VehicleStatus",
            {"timestamp": 42, "arming_state": 2, "nav_state": 14, "failsafe": True, "system_id": 1},
        ),
        ("OffboardControlMode", {"timestamp": 7, "direct_actuator": True}),
        (
            "VehicleCommand",
            {
                "timestamp": 9,
                "command": 176,
                "param1": 1.0,
                "param2": 6.0,
                "param5": 47.397742,
                "target_system": 1,
                "from_external": True,
            },
        ),
        (
            "ActuatorMotors",
            {"timestamp": 11, "timestamp_sample": 10, "control": [0.5, 0.25, 0.0, 1.0] + [math.nan] * 8},
        ),
    ],
)
def test_cdr_bytes_equal_rosbags_and_decode_back(px4_types, name, values):
    """Tether's Cyclone DDS type of each PX4 message writes the bytes rosbags' serializer writes
    (plain CDR, as the uXRCE-DDS agent and ROS 2 put them on the wire) and reads them back."""
    from deploy.px4.messages import ros_type
    from deploy.transport.messages import deserialize, make, to_rosbags, typestore

    t = ros_type(name)
    msg = make(t, **values)
    data = msg.serialize()
    assert data[:4] == b"\x00\x01\x00\x00"
    assert bytes(typestore().serialize_cdr(to_rosbags(msg, t), t)) == data
    back = deserialize(data, t)
    for k, v in values.items():
        got = getattr(back, k)
        if isinstance(v, list):
            assert np.allclose(np.asarray(got, float), np.asarray(v, float), equal_nan=True), k
        elif isinstance(v, float):
            assert got == pytest.approx(v, rel=1e-6), k
        else:
            assert got == v, k
