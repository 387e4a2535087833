"""Cross-vendor interop: every topic Tether uses, on its QoS profile, flows both ways between
Tether's Cyclone DDS transport and a real rclpy node on Fast DDS (ROS 2's default RMW).

rclpy runs in a child process (Cyclone and rclpy never share one); both sides stay on loopback and
a leased private domain. Skipped, visibly, where rclpy is not importable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deploy.transport.names import TOPICS
from tests.ros_helpers import needs_rclpy

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 4.0  # each side sends for this long, every 10 ms
#: Of the messages sent after the endpoints matched, the share that must arrive (loopback).
MIN_SHARE = 0.5


pytestmark = needs_rclpy

ROLES = sorted(TOPICS)
CHILD_ENV = {
    "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    # the peer stands for a stock ROS 2 node: Fast DDS's defaults, not Tether's rclpy profile
    "FASTDDS_DEFAULT_PROFILES_FILE": str(ROOT / "tests" / "data" / "fastdds_stock.xml"),
}

RCLPY_SIDE = textwrap.dedent(
    """
    import json, sys, time
    from deploy.transport.names import TOPICS
    from deploy.transport.rclpy.transport import RclpyTransport
    mode, domain, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    t = RclpyTransport("interop_peer", domain_id=domain)
    counts = {role: 0 for role in TOPICS}
    pubs = {}
    for role, spec in TOPICS.items():
        if mode == "sub":
            t.subscribe(spec.name, spec.type, spec.qos,
                        lambda m, r=role: counts.__setitem__(r, counts[r] + 1))
        else:
            pubs[role] = t.publisher(spec.name, spec.type, spec.qos)
    t.start()
    print("ready", flush=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for role, pub in pubs.items():
            pub.publish(t.make(TOPICS[role].type))
            counts[role] += 1
        time.sleep(0.01)
    if mode == "sub":
        time.sleep(1.0)
    print(json.dumps(counts), flush=True)
    t.close()
    """
)


def _child(mode: str, domain: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RCLPY_SIDE, mode, str(domain), str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **CHILD_ENV},
    )  # fmt: skip


def _wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stderr.read()[-2000:]


@pytest.fixture(scope="module")
def tether_to_rclpy():
    """Tether publishes every role; the rclpy node counts what arrives."""
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from tether.hil.domains import DomainLease

    use_loopback()
    with DomainLease() as lease:
        child = _child("sub", lease.domain_id, SECONDS + 2.0)
        try:
            _wait_ready(child)
            t = DdsTransport("interop_tether", lease.domain_id)
            pubs = {role: t.publisher(s.name, s.type, s.qos) for role, s in TOPICS.items()}
            t.start()
            sent = dict.fromkeys(TOPICS, 0)
            t0 = time.monotonic()
            while time.monotonic() - t0 < SECONDS:
                for role, pub in pubs.items():
                    pub.publish(t.make(TOPICS[role].type))
                    sent[role] += 1
                time.sleep(0.01)
            out, err = child.communicate(timeout=60)
            t.close()
        finally:
            child.kill()
    return sent, json.loads(out.strip().splitlines()[-1]), err


@pytest.fixture(scope="module")
def rclpy_to_tether():
    """The rclpy node publishes every role; Tether counts what arrives."""
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from tether.hil.domains import DomainLease

    use_loopback()
    with DomainLease() as lease:
        t = DdsTransport("interop_tether", lease.domain_id)
        got = dict.fromkeys(TOPICS, 0)
        for role, s in TOPICS.items():
            t.subscribe(s.name, s.type, s.qos, lambda m, r=role: got.__setitem__(r, got[r] + 1))
        t.start()
        child = _child("pub", lease.domain_id, SECONDS)
        try:
            _wait_ready(child)
            out, err = child.communicate(timeout=60)
            time.sleep(1.0)
        finally:
            child.kill()
            t.close()
    return json.loads(out.strip().splitlines()[-1]), got, err


def _assert_delivered(exchange, role, receiver):
    sent, received, err = exchange
    spec = TOPICS[role]
    n, of = received[role], sent[role]
    what = f"{spec.name} ({spec.type}, QoS {spec.qos})"
    assert n >= MIN_SHARE * of, f"{what}: {receiver} got {n} of {of}\n{err}"


@pytest.mark.parametrize("role", ROLES)
def test_tether_to_rclpy_on_fast_dds(tether_to_rclpy, role):
    _assert_delivered(tether_to_rclpy, role, "rclpy")


@pytest.mark.parametrize("role", ROLES)
def test_rclpy_on_fast_dds_to_tether(rclpy_to_tether, role):
    _assert_delivered(rclpy_to_tether, role, "Tether")
