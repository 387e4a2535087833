"""Tether's DDS-transport nodes in the ROS 2 graph, as a real rclpy node on Fast DDS sees it.

ROS 2 learns which node owns which DDS endpoint from `ros_discovery_info`
(rmw_dds_common/msg/ParticipantEntitiesInfo: the participant's GID, and per node its name and the
GIDs of its readers and writers). In Iron and later a GID is the endpoint's 16-byte DDS GUID
(rmw_dds_common msg/Gid.msg is `char[16] data` since ros2/rmw_dds_common#68; Humble's is
`char[24]`), and rmw_fastrtps derives it by copying the 12-byte GUID prefix and the 4-byte entity
id (rmw_fastrtps_shared_cpp guid_utils.hpp, copy_from_fastrtps_guid_to_byte_array). The first
test checks what Tether announces against that; the others ask a real rclpy node.

rclpy runs in a child process (Cyclone and rclpy never share one); loopback, a leased private
domain, every wait bounded. Skipped, visibly, where rclpy is not importable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from deploy.transport.qos import profile
from tests.ros_helpers import FASTDDS_CHILD_ENV as CHILD_ENV
from tests.ros_helpers import needs_rclpy

ROOT = Path(__file__).resolve().parents[1]
NODE = "tether_graph_node"
NAMESPACE = "/tether_ns"
#: What the Tether node offers: (ROS topic, type, QoS profile name), publishers then subscriptions.
PUBLISHES = (
    ("/odom", "nav_msgs/msg/Odometry", "sensor_data"),
    ("/tether/state", "std_msgs/msg/String", "state"),
)
SUBSCRIBES = (("/tether/arm", "std_msgs/msg/Bool", "default"),)

#: The rclpy side: waits (bounded) until the Tether node and all its endpoints are in the graph,
#: prints what the graph says, then, told on stdin that Tether closed, waits until the node is gone.
PROBE = textwrap.dedent(
    """
    import json, sys, time
    import rclpy
    from rclpy.topic_endpoint_info import TopicEndpointTypeEnum

    domain, node, ns, pubs, subs = int(sys.argv[1]), sys.argv[2], sys.argv[3], *json.loads(sys.argv[4])
    rclpy.init(domain_id=domain)
    n = rclpy.create_node("graph_probe")

    def qos(i):
        q = i.qos_profile
        return {"reliability": int(q.reliability), "durability": int(q.durability), "depth": int(q.depth)}

    def endpoints(infos):
        return [{"node": i.node_name, "namespace": i.node_namespace, "type": i.topic_type,
                 "hash": str(i.topic_type_hash), "qos": qos(i)} for i in infos]

    found = {"seen": False}
    deadline = time.monotonic() + 20.0  # bounded: discovery normally takes well under a second
    while time.monotonic() < deadline:
        rclpy.spin_once(n, timeout_sec=0.1)
        if (node, ns) not in n.get_node_names_and_namespaces():
            continue
        by_node_pub = dict(n.get_publisher_names_and_types_by_node(node, ns))
        by_node_sub = dict(n.get_subscriber_names_and_types_by_node(node, ns))
        if all(t in by_node_pub for t, _, _ in pubs) and all(t in by_node_sub for t, _, _ in subs):
            found = {
                "seen": True,
                "nodes": [list(x) for x in n.get_node_names_and_namespaces()],
                "publishers_by_node": {k: list(v) for k, v in by_node_pub.items()},
                "subscriptions_by_node": {k: list(v) for k, v in by_node_sub.items()},
                "publishers": {t: endpoints(n.get_publishers_info_by_topic(t)) for t, _, _ in pubs},
                "subscriptions": {t: endpoints(n.get_subscriptions_info_by_topic(t)) for t, _, _ in subs},
            }
            break
    # The hash rclpy computes itself for each type, from its own publisher of that type.
    import importlib
    own = {}
    for k, (topic, ros_type, _) in enumerate(pubs + subs):
        pkg, _, name = ros_type.split("/")
        cls = getattr(importlib.import_module(pkg + ".msg"), name)
        n.create_publisher(cls, f"/graph_probe_own_{k}", 1)
        info = n.get_publishers_info_by_topic(f"/graph_probe_own_{k}")
        own[ros_type] = str(info[0].topic_type_hash) if info else None
    found["rclpy_hashes"] = own
    print(json.dumps(found), flush=True)
    sys.stdin.readline()  # Tether has closed its participant
    gone_deadline = time.monotonic() + 20.0
    gone = False
    while time.monotonic() < gone_deadline:
        rclpy.spin_once(n, timeout_sec=0.1)
        if (node, ns) not in n.get_node_names_and_namespaces():
            gone = True
            break
    print(json.dumps({"gone": gone}), flush=True)
    """
)


def test_discovery_info_announces_the_participant_and_every_endpoint_by_its_16_byte_guid():
    """What `ros_discovery_info` carries, read back with a plain Cyclone reader (no ROS 2 needed)."""
    from cyclonedds.sub import DataReader

    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DISCOVERY_TOPIC, DISCOVERY_TYPE, DdsTransport
    from deploy.transport.qos import to_cyclonedds
    from tether.hil.domains import DomainLease

    use_loopback()
    with DomainLease() as lease:
        t = DdsTransport(NODE, lease.domain_id, namespace=NAMESPACE)
        try:
            for topic, ros_type, qos in PUBLISHES:
                t.publisher(topic, ros_type, qos)
            for topic, ros_type, qos in SUBSCRIBES:
                t.subscribe(topic, ros_type, qos, lambda m: None)
            reader = DataReader(
                t.participant, t._topic(DISCOVERY_TOPIC, DISCOVERY_TYPE), to_cyclonedds(profile("state"))
            )
            samples = []
            for _ in range(100):  # transient local, keep last 1: the newest announcement (bounded wait)
                samples = reader.read(N=16)
                if samples:
                    break
                time.sleep(0.05)
            participant_guid = t.participant.get_guid().bytes
            writer_guids = {w.get_guid().bytes for w in t._writers}
            reader_guids = {r.get_guid().bytes for r, *_ in t._readers}
        finally:
            t.close()
    assert len(samples) == 1, samples
    info = samples[0]
    assert bytes(info.gid.data) == participant_guid and len(participant_guid) == 16
    (node,) = info.node_entities_info_seq
    assert (node.node_name, node.node_namespace) == (NODE, NAMESPACE)
    assert len(writer_guids) == len(PUBLISHES) and len(reader_guids) == len(SUBSCRIBES)
    assert {bytes(g.data) for g in node.writer_gid_seq} == writer_guids
    assert {bytes(g.data) for g in node.reader_gid_seq} == reader_guids
    # every GID shares the participant's 12-byte GUID prefix: the form rmw_fastrtps derives them in
    assert all(g[:12] == participant_guid[:12] for g in writer_guids | reader_guids)


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    """A Tether node (DDS transport) with publishers and a subscription; what rclpy's graph says."""
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from tether.hil.domains import DomainLease

    use_loopback()
    with DomainLease() as lease:
        t = DdsTransport(NODE, lease.domain_id, namespace=NAMESPACE)
        for topic, ros_type, qos in PUBLISHES:
            t.publisher(topic, ros_type, qos)
        for topic, ros_type, qos in SUBSCRIBES:
            t.subscribe(topic, ros_type, qos, lambda m: None)
        t.start()
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE, str(lease.domain_id), NODE, NAMESPACE,
             json.dumps([PUBLISHES, SUBSCRIBES])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, **CHILD_ENV},
        )  # fmt: skip
        try:
            first = probe.stdout.readline()  # the probe's own wait is bounded (20 s)
            t.close()
            out, err = probe.communicate("closed\n", timeout=60)
        finally:
            probe.kill()
            t.close()
    if not first.strip():
        pytest.fail(f"the rclpy probe printed nothing; its stderr:\n{err[-3000:]}")
    return {**json.loads(first), **json.loads(out.strip().splitlines()[-1]), "stderr": err}


def _rclpy_qos(name: str) -> dict[str, int]:
    """A Tether QoS profile in rclpy's enum values (rclpy.qos: RELIABLE 1, BEST_EFFORT 2;
    TRANSIENT_LOCAL 1, VOLATILE 2)."""
    p = profile(name)
    return {
        "reliability": 1 if p.reliable else 2,
        "durability": 1 if p.transient_local else 2,
        "depth": p.depth,
    }


@needs_rclpy
def test_rclpy_lists_the_tether_node_by_name_and_namespace(graph):
    assert graph["seen"], graph
    assert [NODE, NAMESPACE] in graph["nodes"]


@needs_rclpy
def test_rclpy_lists_the_tether_nodes_publishers_and_subscriptions_by_node(graph):
    assert graph["publishers_by_node"] == {topic: [ros_type] for topic, ros_type, _ in PUBLISHES}
    assert graph["subscriptions_by_node"] == {topic: [ros_type] for topic, ros_type, _ in SUBSCRIBES}


@needs_rclpy
def test_rclpy_reads_the_type_hash_it_computes_itself_from_each_tether_endpoint(graph):
    from deploy.transport.messages import type_hash

    for kind, specs in (("publishers", PUBLISHES), ("subscriptions", SUBSCRIBES)):
        for topic, ros_type, _ in specs:
            (ep,) = graph[kind][topic]
            assert ep["type"] == ros_type
            assert type_hash(ros_type) in ep["hash"], (topic, ep)
            assert ep["hash"] == graph["rclpy_hashes"][ros_type], (topic, ep, graph["rclpy_hashes"])


@needs_rclpy
def test_rclpy_reads_the_qos_tether_documents_for_each_endpoint(graph):
    for kind, specs in (("publishers", PUBLISHES), ("subscriptions", SUBSCRIBES)):
        for topic, _, qos in specs:
            (ep,) = graph[kind][topic]
            assert ep["qos"] == _rclpy_qos(qos), (topic, qos, ep)


@needs_rclpy
def test_the_tether_node_leaves_the_graph_when_it_closes(graph):
    assert graph["gone"] is True


@needs_rclpy
@pytest.mark.xfail(
    strict=True,
    reason="Fast DDS 3.2.3 records no participant GUID for endpoints whose discovery data omits "
    "PID_PARTICIPANT_GUID, as Cyclone DDS's does (WriterProxyData/ReaderProxyData fill only "
    "m_rtps_participant_key in that case, not participant_guid, which rmw_fastrtps 9.3 reads): "
    "rmw_dds_common then finds no participant for the endpoint and names it "
    "_CREATED_BY_BARE_DDS_APP_ (by the same mechanism expected for ROS 2 nodes on rmw_cyclonedds; "
    "not tested here). README: 'Tether in the ROS 2 graph'",
)
def test_endpoint_info_by_topic_names_the_tether_node(graph):
    for kind, specs in (("publishers", PUBLISHES), ("subscriptions", SUBSCRIBES)):
        for topic, _, _ in specs:
            (ep,) = graph[kind][topic]
            assert (ep["node"], ep["namespace"]) == (NODE, NAMESPACE), (topic, ep)
