"""ROS 2 naming on DDS (rt/<topic>, pkg::msg::dds_::Type_), QoS profiles, the RIHS01 type hash in
USER_DATA, ros_discovery_info, and an exchange between two processes on loopback."""

import subprocess
import sys
import textwrap
import time

import pytest

from deploy.transport import messages, qos
from deploy.transport.names import (
    TOPICS,
    check_topic_name,
    dds_topic_name,
    dds_type_name,
    ros_type_name,
)


def test_topic_and_type_names_follow_ros2():
    assert dds_topic_name("/odom") == "rt/odom"
    assert dds_topic_name("imu/data") == "rt/imu/data"
    assert dds_type_name("nav_msgs/msg/Odometry") == "nav_msgs::msg::dds_::Odometry_"
    assert (
        dds_type_name("diagnostic_msgs/msg/DiagnosticArray") == "diagnostic_msgs::msg::dds_::DiagnosticArray_"
    )
    assert ros_type_name("sensor_msgs::msg::dds_::Imu_") == "sensor_msgs/msg/Imu"
    for bad in ("/9odom", "/a//b", "/a__b", "odom/", "/tether-ref", ""):
        with pytest.raises(ValueError, match="not a valid ROS 2 topic name"):
            check_topic_name(bad)
    with pytest.raises(ValueError, match="pkg/msg/Type"):
        dds_type_name("Odometry")


def test_every_default_topic_is_valid_and_typed():
    for role, spec in TOPICS.items():
        assert check_topic_name(spec.name) == spec.name, role
        assert spec.type in messages.MESSAGE_TYPES, role
        assert spec.qos in qos.PROFILES, role


def test_idl_type_names_are_the_ros2_dds_names():
    for ros_type in messages.MESSAGE_TYPES:
        assert messages.idl_class(ros_type).__idl_typename__.replace(".", "::") == dds_type_name(ros_type)


def test_type_hashes_are_rihs01_as_ros2_computes_them():
    # std_msgs/msg/String's hash as printed by `ros2 topic info -v` on Jazzy
    assert messages.type_hash("std_msgs/msg/String") == (
        "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
    )
    ud = messages.user_data("nav_msgs/msg/Odometry").decode()
    assert ud.startswith("typehash=RIHS01_") and ud.endswith(";") and len(ud) == len("typehash=RIHS01_;") + 64


def test_qos_profiles_are_the_ros2_presets():
    s, d = qos.PROFILES["sensor_data"], qos.PROFILES["default"]
    assert (s.reliable, s.transient_local, s.depth) == (False, False, 5)
    assert (d.reliable, d.transient_local, d.depth) == (True, False, 10)
    assert TOPICS["odometry"].qos == "sensor_data" and TOPICS["actuator_command"].qos == "default"


def test_endpoints_carry_names_qos_and_type_hash_on_dds(dds_domain):
    from cyclonedds.core import Policy
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport

    use_loopback()
    node = DdsTransport("naming_test", dds_domain)
    spy = DdsTransport("spy", dds_domain)
    try:
        node.publisher("/odom", "nav_msgs/msg/Odometry", "sensor_data")
        node.publisher("/tether/arm", "std_msgs/msg/Bool", "default")
        found = {}
        readers = {
            name: DataReader(spy.participant, Topic(spy.participant, name, messages.idl_class(t)))
            for name, t in (
                ("rt/odom", "nav_msgs/msg/Odometry"),
                ("rt/tether/arm", "std_msgs/msg/Bool"),
                ("ros_discovery_info", "rmw_dds_common/msg/ParticipantEntitiesInfo"),
            )
        }
        for _ in range(100):  # bounded: discovery on loopback takes a few ms
            for name, r in readers.items():
                handles = r.get_matched_publications()
                if handles:
                    found[name] = r.get_matched_publication_data(handles[0])
            if len(found) == len(readers):
                break
            time.sleep(0.05)
        odom, arm = found["rt/odom"], found["rt/tether/arm"]
        assert odom.topic_name == "rt/odom" and odom.type_name == "nav_msgs::msg::dds_::Odometry_"
        assert odom.qos[Policy.Reliability] == Policy.Reliability.BestEffort
        assert odom.qos[Policy.History] == Policy.History.KeepLast(5)
        assert odom.qos[Policy.Userdata].data == messages.user_data("nav_msgs/msg/Odometry")
        assert isinstance(arm.qos[Policy.Reliability], Policy.Reliability.Reliable)
        assert arm.qos[Policy.Userdata].data == messages.user_data("std_msgs/msg/Bool")
        assert found["ros_discovery_info"].type_name == "rmw_dds_common::msg::dds_::ParticipantEntitiesInfo_"
    finally:
        node.close()
        spy.close()


PUBLISHER = textwrap.dedent(
    """
    import sys, time
    from deploy.transport.dds.loopback import use_loopback
    use_loopback()
    from deploy.transport.dds.transport import DdsTransport
    from deploy.transport import convert
    t = DdsTransport("pub", int(sys.argv[1]))
    p = t.publisher("/imu/data", "sensor_msgs/msg/Imu", "default")
    for k in range(200):  # bounded: about 10 s
        p.publish(convert.imu_msg(t.make, k * 0.01, [1, 0, 0, 0], [0.1, 0.2, k], [0, 0, 9.81]))
        time.sleep(0.05)
    """
)


def test_two_processes_exchange_messages_over_loopback(dds_domain):
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport

    use_loopback()
    got = []
    sub = DdsTransport("sub", dds_domain)
    sub.subscribe("/imu/data", "sensor_msgs/msg/Imu", "default", got.append)
    sub.start()
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(dds_domain)],
        cwd=str(messages.__file__).rsplit("/deploy/", 1)[0],
    )
    try:
        for _ in range(300):
            if len(got) >= 5 or proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        sub.close()
    assert len(got) >= 5
    m = got[-1]
    assert m.header.frame_id == "imu_link" and m.linear_acceleration.z == pytest.approx(9.81)
    assert [g.angular_velocity.z for g in got] == sorted(g.angular_velocity.z for g in got)  # in order
