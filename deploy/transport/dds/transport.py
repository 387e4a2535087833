"""A ROS 2 node's endpoints on Cyclone DDS, named, typed and configured as rmw_cyclonedds does.

- topics `rt/<name>`, types `pkg::msg::dds_::Type_`, plain CDR (XCDR1);
- QoS from deploy.transport.qos; each reader and writer carries
  `typehash=RIHS01_<hex>;` in USER_DATA, as ROS 2 Iron and later do;
- the participant publishes `ros_discovery_info` (rmw_dds_common
  ParticipantEntitiesInfo: this node and the GUIDs of its readers and writers)
  so that ROS 2 tools list the node (`ros2 node list`) and its endpoints by
  node. A GID is the entity's 16-byte DDS GUID (12-byte prefix, 4-byte entity
  id), as rmw_fastrtps derives it (rmw_fastrtps_shared_cpp guid_utils.hpp,
  copy_from_fastrtps_guid_to_byte_array) and as rmw_dds_common's Gid.msg holds
  it since Iron (`char[16] data`, ros2/rmw_dds_common#68). Humble's Gid has 24
  bytes, so Humble tools do not list the node; topics interoperate either way.
  The topic and QoS are rmw's own: `ros_discovery_info` without `rt/`,
  reliable, transient local, keep last 1 (rmw_fastrtps_cpp
  init_rmw_context_impl.cpp), re-announced whenever an endpoint is added.
  One field stays wrong on Fast DDS 3.2 peers: the node name in
  get_publishers_info_by_topic / get_subscriptions_info_by_topic reads
  `_CREATED_BY_BARE_DDS_APP_`, because Cyclone omits PID_PARTICIPANT_GUID from
  endpoint discovery data and Fast DDS 3.2 then leaves the endpoint's
  `participant_guid` zero (tests/test_ros_graph.py, README "Tether in the
  ROS 2 graph").

One receive thread waits on a WaitSet over all readers and calls the
subscriptions' callbacks in arrival order. A second thread looks, once a
second, at the peers discovered on this node's topics (Cyclone's built-in
DCPSPublication/DCPSSubscription topics, peer node names from their
`ros_discovery_info`) and logs, by name, each that can never exchange messages
with this node: another type or type hash, incompatible QoS
(deploy/transport/graph_check.py; `graph_problems()`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from deploy.transport import messages
from deploy.transport.dds.interop import apply_interop_config
from deploy.transport.graph_check import CHECK_PERIOD_S, Endpoint, ProblemLog, problems
from deploy.transport.names import dds_topic_name, ros_type_name
from deploy.transport.qos import QosProfile, profile, to_cyclonedds

log = logging.getLogger("tether.transport.dds")

DISCOVERY_TOPIC = "ros_discovery_info"
DISCOVERY_TYPE = "rmw_dds_common/msg/ParticipantEntitiesInfo"


class DdsPublisher:
    def __init__(self, writer: Any) -> None:
        from cyclonedds._clayer import ddspy_write

        self.writer = writer
        self._write_cdr = ddspy_write  # bound once: an import statement per write costs a lookup chain
        self._ref = writer._ref

    def publish(self, msg: Any) -> None:
        self.writer.write(msg)

    def publish_cdr(self, data: bytes) -> None:
        """Write a sample already serialized (plain CDR with its encapsulation header, padded to a
        multiple of 4: deploy.transport.cdr), as DataWriter.write hands its own serialization on."""
        ret = self._write_cdr(self._ref, data)
        if ret < 0:
            from cyclonedds.core import DDSException

            raise DDSException(ret, f"Occurred while writing sample in {self.writer!r}")


def domain_from_environment() -> int:
    """ROS_DOMAIN_ID from the environment, as ROS 2 reads it (0 when unset or empty)."""
    raw = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"ROS_DOMAIN_ID must be an integer in 0..232, found {raw!r}") from None


class DdsTransport:
    """One ROS 2 node on its own DDS participant in `domain_id` (default: ROS_DOMAIN_ID, else 0)."""

    name = "dds"

    def __init__(self, node_name: str, domain_id: int | None = None, namespace: str = "/") -> None:
        from cyclonedds.core import Qos
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import Publisher
        from cyclonedds.sub import Subscriber

        if domain_id is None:
            domain_id = domain_from_environment()
        if not 0 <= domain_id <= 232:
            raise ValueError(f"DDS domain id must be in 0..232 (as ROS_DOMAIN_ID), found {domain_id}")
        self.node_name = node_name
        self.namespace = namespace
        self.domain_id = domain_id
        from cyclonedds.core import Policy

        apply_interop_config()  # ROS 2 nodes on Fast DDS must match our endpoints (interop.py)

        self.participant = DomainParticipant(self.domain_id, qos=Qos(Policy.Userdata(data=b"enclave=/;")))
        self._pub = Publisher(self.participant)
        self._sub = Subscriber(self.participant)
        self._topics: dict[str, Any] = {}
        #: (reader, callback, topic, raw: the callback takes the sample's bytes)
        self._readers: list[tuple[Any, Callable[[Any], None], str, bool]] = []
        #: Called in the receive thread after the callbacks of each topic's samples taken at a
        #: wake-up (a sensor-triggered loop runs its cycle there, before other topics' samples are
        #: handled: deploy.runtime.rt_loop.RealtimeLoop.run_pending).
        self.after_receive: Callable[[], None] | None = None
        self._writers: list[Any] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._discovery_writer: Any = None
        self.receive_errors = 0
        self._own: list[Endpoint] = []  # this node's endpoints, for the graph check
        self._graph_log = ProblemLog(node_name)
        self._graph_readers: tuple[Any, ...] | None = None
        #: discovered endpoints of other participants on rt/ topics: key → (endpoint, participant key)
        self._peer_endpoints: dict[bytes, tuple[Endpoint, bytes]] = {}
        self._graph_thread: threading.Thread | None = None
        self._graph_lock = threading.Lock()
        self._peer_nodes: dict[bytes, list[tuple[str, set[bytes], set[bytes]]]] = {}

    def make(self, ros_type: str, **fields: Any) -> Any:
        return messages.make(ros_type, **fields)

    def _topic(self, name: str, ros_type: str) -> Any:
        from cyclonedds.topic import Topic

        key = f"{name}|{ros_type}"
        if key not in self._topics:
            self._topics[key] = Topic(self.participant, name, messages.idl_class(ros_type))
        return self._topics[key]

    def publisher(self, topic: str, ros_type: str, qos: str | QosProfile) -> DdsPublisher:
        from cyclonedds.pub import DataWriter

        p = profile(qos) if isinstance(qos, str) else qos
        writer = DataWriter(
            self._pub,
            self._topic(dds_topic_name(topic), ros_type),
            to_cyclonedds(p, messages.user_data(ros_type)),
        )
        self._writers.append(writer)
        self._own.append(_own_endpoint(topic, ros_type, p, publisher=True))
        self._announce()
        return DdsPublisher(writer)

    def subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None]
    ) -> None:
        self._subscribe(topic, ros_type, qos, callback, raw=False)

    def subscribe_cdr(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[bytes], None]
    ) -> None:
        """As subscribe(), but `callback` gets each sample's serialized bytes (plain CDR with its
        encapsulation header, as the writer sent them), not deserialized: for a reader that decodes
        the few fields it needs itself (deploy/transport/cdr.py)."""
        self._subscribe(topic, ros_type, qos, callback, raw=True)

    def _subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None], raw: bool
    ) -> None:
        from cyclonedds.sub import DataReader

        p = profile(qos) if isinstance(qos, str) else qos
        reader = DataReader(
            self._sub,
            self._topic(dds_topic_name(topic), ros_type),
            to_cyclonedds(p, messages.user_data(ros_type)),
        )
        self._readers.append((reader, callback, topic, raw))
        self._own.append(_own_endpoint(topic, ros_type, p, publisher=False))
        self._announce()

    # -- ros_discovery_info ---------------------------------------------------------------------

    def _announce(self) -> None:
        """Publish this node's entities on ros_discovery_info (what `ros2 node list` reads)."""
        from cyclonedds.pub import DataWriter

        if self._discovery_writer is None:
            qos = to_cyclonedds(profile("state"))
            topic = self._topic(DISCOVERY_TOPIC, DISCOVERY_TYPE)
            self._discovery_writer = DataWriter(self._pub, topic, qos)

        def gid(entity: Any) -> dict[str, list[int]]:
            return {"data": list(entity.get_guid().bytes)}

        info = messages.make(
            DISCOVERY_TYPE,
            gid=gid(self.participant),
            node_entities_info_seq=[
                messages.make(
                    "rmw_dds_common/msg/NodeEntitiesInfo",
                    node_namespace=self.namespace,
                    node_name=self.node_name,
                    reader_gid_seq=[
                        messages.make("rmw_dds_common/msg/Gid", **gid(r)) for r, *_ in self._readers
                    ],
                    writer_gid_seq=[messages.make("rmw_dds_common/msg/Gid", **gid(w)) for w in self._writers],
                )
            ],
        )
        self._discovery_writer.write(info)

    # -- peers that can never match (graph_check.py) ----------------------------------------------

    def graph_problems(self) -> list[str]:
        """Each discovered peer on this node's topics that can never exchange messages with it, named
        (another type or type hash, incompatible QoS); [] when all is well."""
        with self._graph_lock:
            return problems(self._own, self._peers())

    def _peers(self) -> list[Endpoint]:
        from cyclonedds.builtin import (
            BuiltinDataReader,
            BuiltinTopicDcpsPublication,
            BuiltinTopicDcpsSubscription,
        )
        from cyclonedds.core import InstanceState, Policy, Qos, ReadCondition, SampleState, ViewState
        from cyclonedds.internal import InvalidSample
        from cyclonedds.sub import DataReader
        from cyclonedds.util import duration

        if self.participant is None:
            return []
        if self._graph_readers is None:
            # Each discovered endpoint is read once when it appears or changes (NotRead) and kept in
            # self._peer_endpoints until its instance is no longer alive (taken, so read once too).
            # Re-reading every sample each check cost ~70-80 B of C heap per sample per read
            # (cyclonedds-python 11.0.1's builtin endpoint read leaks): with a dozen endpoints on
            # the domain that was the policy node's steady ~66 KiB/min growth in `tether bench soak`.
            fresh = SampleState.NotRead | ViewState.Any | InstanceState.Alive
            gone = (
                SampleState.Any
                | ViewState.Any
                | InstanceState.NotAliveDisposed
                | InstanceState.NotAliveNoWriters
            )
            pubs = BuiltinDataReader(self.participant, BuiltinTopicDcpsPublication)
            subs = BuiltinDataReader(self.participant, BuiltinTopicDcpsSubscription)
            # ros_discovery_info as rmw reads it: reliable, transient local, keep all (rmw_fastrtps_cpp
            # init_rmw_context_impl.cpp: the topic is keyless, so keep-last 1 would keep one participant)
            info_qos = Qos(
                Policy.Reliability.Reliable(duration(milliseconds=100)),
                Policy.Durability.TransientLocal,
                Policy.History.KeepAll,
                Policy.DataRepresentation(use_cdrv0_representation=True),
            )
            info = DataReader(self._sub, self._topic(DISCOVERY_TOPIC, DISCOVERY_TYPE), info_qos)
            self._graph_readers = (
                (pubs, ReadCondition(pubs, fresh), ReadCondition(pubs, gone), True),
                (subs, ReadCondition(subs, fresh), ReadCondition(subs, gone), False),
                info,
            )
        *builtin, info = self._graph_readers
        try:
            announced = info.take(N=256)
        except Exception:  # e.g. Humble's 24-byte Gid: peers stay unnamed, the check goes on
            announced = []
        for msg in announced:
            if isinstance(msg, InvalidSample):  # a participant that left
                continue
            self._peer_nodes[bytes(msg.gid.data)] = [
                (
                    _fqn(n.node_namespace, n.node_name),
                    {bytes(g.data) for g in n.reader_gid_seq},
                    {bytes(g.data) for g in n.writer_gid_seq},
                )
                for n in msg.node_entities_info_seq
            ]
        own = self.participant.get_guid().bytes
        for reader, fresh_cond, gone_cond, publisher in builtin:
            for s in reader.take(N=4096, condition=gone_cond):  # endpoints that left
                self._peer_endpoints.pop(s.key.bytes, None)
            for s in reader.read(N=4096, condition=fresh_cond):  # new or changed endpoints
                if s.participant_key.bytes == own or not s.topic_name.startswith("rt/"):
                    continue
                peer = _peer_endpoint(s, publisher)
                if peer is not None:
                    self._peer_endpoints[s.key.bytes] = (peer, s.participant_key.bytes)
        out: list[Endpoint] = []
        for key, (peer, participant) in self._peer_endpoints.items():
            out.append(dataclasses.replace(peer, who=self._who(participant, key, peer.publisher)))
        return out

    def _who(self, participant: bytes, endpoint: bytes, publisher: bool) -> str:
        for name, readers, writers in self._peer_nodes.get(participant, []):
            if endpoint in (writers if publisher else readers):
                return name
        return f"of DDS participant {participant.hex()} (no ROS node announced for it)"

    def _check_graph(self) -> None:
        while not self._stop.wait(CHECK_PERIOD_S):
            try:
                self._graph_log.update(self.graph_problems())
            except Exception:  # the check only reports; it must never take the node down
                if not self._stop.is_set():
                    log.exception("graph check failed")

    # -- receiving ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._spin, name=f"{self.node_name}-dds-rx", daemon=True)
        self._thread.start()
        self._graph_thread = threading.Thread(
            target=self._check_graph, name=f"{self.node_name}-graph", daemon=True
        )
        self._graph_thread.start()

    def _spin(self) -> None:
        from cyclonedds._clayer import ddspy_take
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
        from cyclonedds.internal import InvalidSample
        from cyclonedds.util import duration

        any_sample = SampleState.Any | ViewState.Any | InstanceState.Any
        ws = WaitSet(self.participant)
        mask = SampleState.NotRead | ViewState.Any | InstanceState.Any
        conds = []
        for reader, *_ in self._readers:
            cond = ReadCondition(reader, mask)
            ws.attach(cond)
            conds.append(cond)
        timeout = duration(milliseconds=50)
        while not self._stop.is_set():
            ws.wait(timeout)
            for reader, callback, topic, raw in self._readers:
                if raw:  # the samples' bytes, not deserialized (DataReader.take without its last step)
                    taken = ddspy_take(reader._ref, any_sample, 64)
                    if isinstance(taken, int):
                        self.receive_errors += 1
                        log.error("take on %s failed (DDS return code %d)", topic, taken)
                        continue
                    samples = [data for data, info in taken if info.valid_data]
                else:
                    samples = [m for m in reader.take(N=64) if not isinstance(m, InvalidSample)]
                for msg in samples:  # (invalid samples: dispose/unregister of a writer that left)
                    try:
                        callback(msg)
                    except Exception:  # a bad message must not end reception
                        self.receive_errors += 1
                        log.exception("callback for %s failed", topic)
                after = self.after_receive
                if samples and after is not None:  # before the next topic's samples are handled
                    try:
                        after()
                    except Exception:  # must not end reception either
                        self.receive_errors += 1
                        log.exception("after-receive hook failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._graph_thread is not None:
            self._graph_thread.join(timeout=2.0)
            self._graph_thread = None
        with self._graph_lock:
            self._graph_readers = None
            self._peer_endpoints.clear()
        self._readers.clear()
        self._writers.clear()
        self._topics.clear()
        self._discovery_writer = None
        participant, self.participant = self.participant, None
        if participant is not None:
            # Delete the DDS participant, and with it every entity under it, now: the Python object
            # outlives close() (cyclonedds keeps references to it), so waiting for garbage
            # collection kept the node in its peers' ROS graph until this process exited.
            participant.__del__()


def _fqn(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}"


def _own_endpoint(topic: str, ros_type: str, p: QosProfile, publisher: bool) -> Endpoint:
    return Endpoint(topic, ros_type, messages.type_hash(ros_type), p.reliable, p.transient_local, publisher)


def _peer_endpoint(sample: Any, publisher: bool) -> Endpoint | None:
    """A discovered reader or writer (a DCPSPublication/DCPSSubscription sample) as an Endpoint;
    None for a DDS type that is not a ROS 2 message."""
    from cyclonedds.core import Policy

    try:
        ros_type = ros_type_name(sample.type_name)
    except ValueError:
        return None
    qos = sample.qos
    user_data = qos[Policy.Userdata].data if Policy.Userdata in qos else b""
    type_hash = None
    for item in user_data.decode(errors="replace").split(";"):  # b'typehash=RIHS01_<hex>;'
        key, _, value = item.partition("=")
        if key == "typehash" and value:
            type_hash = value
    reliable = (
        isinstance(qos[Policy.Reliability], Policy.Reliability.Reliable)
        if Policy.Reliability in qos
        else publisher
    )
    durability = type(qos[Policy.Durability]).__name__ if Policy.Durability in qos else "Durability.Volatile"
    return Endpoint(
        topic=sample.topic_name[2:],  # rt/odom -> /odom
        type=ros_type,
        type_hash=type_hash,
        reliable=reliable,
        transient_local=not durability.endswith("Volatile"),
        publisher=publisher,
    )
