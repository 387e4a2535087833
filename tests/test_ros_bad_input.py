"""Peers that can never talk to a Tether node are named, and the node carries on.

A foreign node ("old_robot_driver", Cyclone DDS, in its own process) offers on Tether's topics:
- /odom with the right type name (nav_msgs/msg/Odometry) but another definition and type hash,
  as a robot on another ROS 2 distribution or with an edited .msg would, publishing all along;
- /tether/arm best effort, where Tether subscribes reliable (incompatible QoS);
- a reliable subscription on /imu/data, where Tether publishes best effort.
A Tether node on each transport (Cyclone DDS in this process; rclpy on Fast DDS in a child)
must report each by name (`graph_problems()` and a logged warning) and keep running.
(An out-of-order lifecycle transition: tests/test_ros_lifecycle.py.)

Loopback, a leased private domain, every wait bounded in count and time.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ros_helpers import needs_rclpy

ROOT = Path(__file__).resolve().parents[1]
FOREIGN_NODE = "old_robot_driver"
#: The hash the foreign /odom writer announces (not the RIHS01 hash of ROS 2's Odometry).
FOREIGN_HASH = "RIHS01_" + "ab" * 32

#: The foreign node; prints "ready", publishes until stdin closes (at most 90 s).
FOREIGN = textwrap.dedent(
    f"""
    import select, sys, time
    from cyclonedds.idl import make_idl_struct
    from cyclonedds.idl import types as t
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic
    from deploy.transport import messages
    from deploy.transport.dds.transport import DdsTransport
    from deploy.transport.qos import profile, to_cyclonedds

    node = DdsTransport({FOREIGN_NODE!r}, int(sys.argv[1]))
    # nav_msgs/msg/Odometry by name, but another definition: a header and a version number
    Old = make_idl_struct("OldOdometry", "nav_msgs.msg.dds_.Odometry_",
                          {{"header": messages.idl_class("std_msgs/msg/Header"), "version": t.uint32}})
    Old.__idl_annotations__["extensibility"] = "final"
    qos = to_cyclonedds(profile("sensor_data"), b"typehash={FOREIGN_HASH};")
    odom = DataWriter(node._pub, Topic(node.participant, "rt/odom", Old), qos)
    node._writers.append(odom)  # so its ros_discovery_info names this node as the writer's owner
    arm = node.publisher("/tether/arm", "std_msgs/msg/Bool", "sensor_data")
    node.subscribe("/imu/data", "sensor_msgs/msg/Imu", "default", lambda m: None)
    node.start()
    print("ready", flush=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 90.0 and not select.select([sys.stdin], [], [], 0.02)[0]:
        odom.write(Old(header=messages.make("std_msgs/msg/Header", frame_id="odom"), version=7))
        arm.publish(node.make("std_msgs/msg/Bool", data=True))
    node.close()
    """
)

#: Tether's node on rclpy: the same endpoints as the DDS case; prints what it reports.
RCLPY_LISTENER = textwrap.dedent(
    """
    import json, logging, sys, time
    from deploy.transport.rclpy.transport import RclpyTransport
    logging.basicConfig(level=logging.WARNING)
    t = RclpyTransport("tether_listener", domain_id=int(sys.argv[1]))
    got = {"odom": 0, "arm": 0}
    t.subscribe("/odom", "nav_msgs/msg/Odometry", "sensor_data", lambda m: got.__setitem__("odom", 1))
    t.subscribe("/tether/arm", "std_msgs/msg/Bool", "default", lambda m: got.__setitem__("arm", 1))
    imu = t.publisher("/imu/data", "sensor_msgs/msg/Imu", "sensor_data")
    t.start()
    expected, foreign = sys.argv[2].split(","), sys.argv[3]
    found, logged = [], []
    for _ in range(200):  # at most 20 s: discovery normally takes well under a second
        imu.publish(t.make("sensor_msgs/msg/Imu"))
        found = t.graph_problems()
        logged = t._graph_log.seen  # the transport's own once-a-second check
        named = [p for p in found if foreign in p]
        if all(any(p.startswith(e + ":") for p in named) for e in expected) and len(logged) >= len(expected):
            break
        time.sleep(0.1)
    print(json.dumps({"problems": found, "logged": logged, "got": got,
                      "spinning": t._thread.is_alive()}), flush=True)
    t.close()
    """
)

#: (what, topic) each problem must be reported as.
EXPECTED = (
    ("type hash mismatch", "/odom"),
    ("incompatible QoS", "/tether/arm"),
    ("incompatible QoS", "/imu/data"),
)


def _child_env() -> dict[str, str]:
    from deploy.transport.dds.loopback import loopback_env

    return {
        **loopback_env(),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }


def _start_foreign(domain: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", FOREIGN, str(domain)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_child_env(),
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stderr.read()[-2000:]
    return proc


def _stop_foreign(proc: subprocess.Popen) -> None:
    try:
        proc.communicate("stop\n", timeout=30)
    finally:
        proc.kill()


def _reported(problems: list[str], what: str, topic: str) -> list[str]:
    return [p for p in problems if p.startswith(f"{what} on {topic}:")]


def _check_named(problems: list[str]) -> None:
    """Each expected problem is there, naming the topic, the foreign node and what differs. (Fast
    DDS ties no Cyclone endpoint to its node, so the rclpy side names the node among those that
    the graph lists on the topic: README "Tether in the ROS 2 graph".)"""
    from deploy.transport.messages import type_hash

    for what, topic in EXPECTED:
        assert _reported(problems, what, topic), (what, topic, problems)
    (hash_problem,) = _reported(problems, "type hash mismatch", "/odom")
    assert hash_problem.startswith("type hash mismatch on /odom: publisher ")
    assert f"/{FOREIGN_NODE}" in hash_problem and "nav_msgs/msg/Odometry" in hash_problem
    assert FOREIGN_HASH in hash_problem and type_hash("nav_msgs/msg/Odometry") in hash_problem
    (arm,) = _reported(problems, "incompatible QoS", "/tether/arm")
    assert arm.startswith("incompatible QoS on /tether/arm: publisher ") and f"/{FOREIGN_NODE}" in arm
    assert "requests reliability RELIABLE" in arm and "offers BEST_EFFORT" in arm
    (imu,) = _reported(problems, "incompatible QoS", "/imu/data")
    assert imu.startswith("incompatible QoS on /imu/data: subscription ") and f"/{FOREIGN_NODE}" in imu
    assert "requests reliability RELIABLE" in imu


def _poll(condition: Callable[[], bool], tries: int = 150, period_s: float = 0.1) -> None:
    """Until `condition()` holds, at most `tries` times `period_s` (no timed assertion: the caller
    asserts on what it finds)."""
    for _ in range(tries):
        if condition():
            return
        time.sleep(period_s)


def test_dds_node_names_a_foreign_type_hash_and_incompatible_qos_and_carries_on(caplog):
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from tether.hil.domains import DomainLease

    use_loopback()
    caplog.set_level(logging.WARNING, logger="tether.transport.graph")
    got = {"odom": 0, "arm": 0}
    with DomainLease() as lease:
        t = DdsTransport("tether_listener", lease.domain_id)
        t.subscribe("/odom", "nav_msgs/msg/Odometry", "sensor_data", lambda m: got.__setitem__("odom", 1))
        t.subscribe("/tether/arm", "std_msgs/msg/Bool", "default", lambda m: got.__setitem__("arm", 1))
        imu = t.publisher("/imu/data", "sensor_msgs/msg/Imu", "sensor_data")
        t.start()
        foreign = _start_foreign(lease.domain_id)
        try:

            def all_reported() -> bool:
                imu.publish(t.make("sensor_msgs/msg/Imu"))
                found = [p for p in t.graph_problems() if FOREIGN_NODE in p]
                return all(_reported(found, what, topic) for what, topic in EXPECTED)

            _poll(all_reported, tries=200)
            problems = t.graph_problems()
            _poll(lambda: len(t._graph_log.seen) >= len(EXPECTED))  # the once-a-second check logs them
            spinning = t._thread is not None and t._thread.is_alive()
        finally:
            _stop_foreign(foreign)
            t.close()
    _check_named(problems)
    logged = [r.getMessage() for r in caplog.records if r.name == "tether.transport.graph"]
    for what, topic in EXPECTED:
        assert any(f"tether_listener: {what} on {topic}:" in m for m in logged), (what, topic, logged)
    assert spinning and t.receive_errors == 0
    assert got == {"odom": 0, "arm": 0}  # nothing of either arrived, and nothing broke


@needs_rclpy
def test_rclpy_node_names_a_foreign_type_hash_and_incompatible_qos_and_carries_on():
    from tether.hil.domains import DomainLease

    expected = ",".join(f"{what} on {topic}" for what, topic in EXPECTED)
    with DomainLease() as lease:
        foreign = _start_foreign(lease.domain_id)
        try:
            r = subprocess.run(
                [sys.executable, "-c", RCLPY_LISTENER, str(lease.domain_id), expected, f"/{FOREIGN_NODE}"],
                capture_output=True, text=True, timeout=90, cwd=ROOT, env=_child_env(),
            )  # fmt: skip
        finally:
            _stop_foreign(foreign)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    _check_named(out["problems"])
    for what, topic in EXPECTED:
        assert any(p.startswith(f"{what} on {topic}:") for p in out["logged"]), (what, topic, out)
    assert out["spinning"] is True
    assert out["got"] == {"odom": 0, "arm": 0}, out


@pytest.mark.parametrize("peer_hash", [None, "RIHS01_" + "00" * 32])
def test_a_peer_without_a_type_hash_or_with_the_same_is_no_problem(peer_hash):
    """Humble announces no hash: nothing to compare, so nothing reported (no ROS 2 needed)."""
    from deploy.transport.graph_check import Endpoint, problems

    mine = Endpoint("/odom", "nav_msgs/msg/Odometry", "RIHS01_" + "00" * 32, False, False, publisher=False)
    peer = Endpoint("/odom", "nav_msgs/msg/Odometry", peer_hash, True, True, publisher=True, who="/humble")
    assert problems([mine], [peer]) == []
    # a best-effort, volatile subscription takes anything; a reliable, transient-local one does not
    strict = Endpoint("/odom", "nav_msgs/msg/Odometry", None, True, True, publisher=False)
    loose = Endpoint("/odom", "nav_msgs/msg/Odometry", None, False, False, publisher=True, who="/driver")
    assert [p.split(":")[0] for p in problems([strict], [loose])] == ["incompatible QoS on /odom"] * 2
