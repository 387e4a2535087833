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
subscriptions' callbacks in arrival order.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from deploy.transport import messages
from deploy.transport.dds.interop import apply_interop_config
from deploy.transport.names import dds_topic_name
from deploy.transport.qos import QosProfile, profile, to_cyclonedds

log = logging.getLogger("tether.transport.dds")

DISCOVERY_TOPIC = "ros_discovery_info"
DISCOVERY_TYPE = "rmw_dds_common/msg/ParticipantEntitiesInfo"


class DdsPublisher:
    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def publish(self, msg: Any) -> None:
        self.writer.write(msg)


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
        self._readers: list[tuple[Any, Callable[[Any], None], str]] = []
        self._writers: list[Any] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._discovery_writer: Any = None
        self.receive_errors = 0

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
        self._announce()
        return DdsPublisher(writer)

    def subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None]
    ) -> None:
        from cyclonedds.sub import DataReader

        p = profile(qos) if isinstance(qos, str) else qos
        reader = DataReader(
            self._sub,
            self._topic(dds_topic_name(topic), ros_type),
            to_cyclonedds(p, messages.user_data(ros_type)),
        )
        self._readers.append((reader, callback, topic))
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
                        messages.make("rmw_dds_common/msg/Gid", **gid(r)) for r, _, _ in self._readers
                    ],
                    writer_gid_seq=[messages.make("rmw_dds_common/msg/Gid", **gid(w)) for w in self._writers],
                )
            ],
        )
        self._discovery_writer.write(info)

    # -- receiving ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._spin, name=f"{self.node_name}-dds-rx", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
        from cyclonedds.internal import InvalidSample
        from cyclonedds.util import duration

        ws = WaitSet(self.participant)
        mask = SampleState.NotRead | ViewState.Any | InstanceState.Any
        conds = []
        for reader, _, _ in self._readers:
            cond = ReadCondition(reader, mask)
            ws.attach(cond)
            conds.append(cond)
        timeout = duration(milliseconds=50)
        while not self._stop.is_set():
            ws.wait(timeout)
            for reader, callback, topic in self._readers:
                for msg in reader.take(N=64):
                    if isinstance(msg, InvalidSample):  # dispose/unregister of a writer that left
                        continue
                    try:
                        callback(msg)
                    except Exception:  # a bad message must not end reception
                        self.receive_errors += 1
                        log.exception("callback for %s failed", topic)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
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
