"""The node logic on rclpy with ROS 2's own message classes (only where ROS 2 is installed).

Never imported together with Cyclone DDS Python: a process uses one transport. Parameters come
from ROS (`--ros-args --params-file`, launch files) through rclpy's parameter overrides and are
handed to the node logic in the same nested form the DDS entry point reads from the file.

Fast DDS runs with type propagation off (fastdds_profile.xml, unless FASTDDS_DEFAULT_PROFILES_FILE
names another profile): no XTypes type information, matching by type name, as ROS 2 does.

Once a second (a thread of its own) the transport asks the ROS graph about the peers on its own
topics and logs, by name, each that can never exchange messages with it: another type or type
hash, incompatible QoS (deploy/transport/graph_check.py; `graph_problems()`).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.transport.graph_check import CHECK_PERIOD_S, Endpoint, ProblemLog, problems
from deploy.transport.qos import QosProfile, profile, to_rclpy

log = logging.getLogger("tether.transport.rclpy")

#: Fast DDS profile of Tether's rclpy nodes (type propagation off; why: the file's comment), used
#: unless FASTDDS_DEFAULT_PROFILES_FILE names another.
FASTDDS_PROFILE = Path(__file__).with_name("fastdds_profile.xml")


def use_tether_fastdds_profile() -> None:
    """Point Fast DDS at FASTDDS_PROFILE unless the environment names a profile file already;
    before this process's first rclpy.init (Fast DDS reads it when it creates the participant)."""
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))


def message_class(ros_type: str) -> type:
    """The rclpy class of 'pkg/msg/Type' (e.g. nav_msgs.msg.Odometry)."""
    pkg, kind, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def make_message(ros_type: str, **fields: Any) -> Any:
    """A message of `ros_type`; nested messages may be given as dicts (as the DDS transport's make)."""
    cls = message_class(ros_type)
    msg = cls()
    types = cls.get_fields_and_field_types()
    for name, value in fields.items():
        if name not in types:
            raise ValueError(f"{ros_type} has no field '{name}'; its fields are {list(types)}")
        if isinstance(value, dict):
            nested = getattr(msg, name)
            value = make_message(_ros_type_of(nested), **value)
        setattr(msg, name, value)
    return msg


def _ros_type_of(msg: Any) -> str:
    module = type(msg).__module__.split(".")  # e.g. std_msgs.msg._header
    return f"{module[0]}/msg/{type(msg).__name__}"


#: Parameters rclpy declares on every node (Kilted adds start_type_description_service);
#: they are ROS's, not Tether's, so they never reach the node's own parameter check.
ROS_NODE_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})


class RclpyPublisher:
    def __init__(self, pub: Any) -> None:
        self.pub = pub

    def publish(self, msg: Any) -> None:
        self.pub.publish(msg)


class RclpyTransport:
    name = "rclpy"

    def __init__(
        self,
        node_name: str,
        domain_id: int | None = None,
        args: list[str] | None = None,
        node_factory: Callable[..., Any] | None = None,
    ) -> None:
        """`node_factory(name, context=..., **options)` makes the rclpy node (default:
        rclpy.create_node; rclpy.lifecycle.LifecycleNode for a managed node)."""
        use_tether_fastdds_profile()
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._context = rclpy.Context()
        init_kwargs: dict[str, Any] = {"args": args, "context": self._context}
        if domain_id is not None:
            init_kwargs["domain_id"] = domain_id
        rclpy.init(**init_kwargs)
        factory = node_factory or rclpy.create_node
        self.node = factory(
            node_name,
            context=self._context,
            allow_undeclared_parameters=True,
            automatically_declare_parameters_from_overrides=True,
        )
        self._entities: list[Any] = []  # publishers and subscriptions, for destroy_entities()
        self._own: list[Endpoint] = []  # this node's endpoints, for the graph check
        self._graph_log = ProblemLog(node_name)
        # A Python thread, not an rclpy timer: a timer wakes the executor's wait every second, and a
        # spin thread woken while the interpreter exits (a transport never closed) aborts the process.
        self._graph_thread: threading.Thread | None = None
        self._graph_stop = threading.Event()
        self._graph_lock = threading.Lock()
        self.node_name = node_name
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def parameters(self) -> dict[str, Any]:
        """The node's parameters (from --params-file / launch) in nested form, without the ones every
        rclpy node declares itself (ROS_NODE_PARAMETERS)."""
        from deploy.nodes.params import unflatten

        flat = {name: p.value for name, p in self.node._parameters.items() if name not in ROS_NODE_PARAMETERS}
        return unflatten(flat)

    def make(self, ros_type: str, **fields: Any) -> Any:
        return make_message(ros_type, **fields)

    def publisher(self, topic: str, ros_type: str, qos: str | QosProfile) -> RclpyPublisher:
        p = profile(qos) if isinstance(qos, str) else qos
        pub = self.node.create_publisher(message_class(ros_type), topic, to_rclpy(p))
        self._entities.append(pub)
        self._own.append(_own_endpoint(self.node.resolve_topic_name(topic), ros_type, p, publisher=True))
        return RclpyPublisher(pub)

    def subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None]
    ) -> None:
        p = profile(qos) if isinstance(qos, str) else qos
        sub = self.node.create_subscription(message_class(ros_type), topic, callback, to_rclpy(p))
        self._entities.append(sub)
        self._own.append(_own_endpoint(self.node.resolve_topic_name(topic), ros_type, p, publisher=False))

    # -- peers that can never match (graph_check.py) ----------------------------------------------

    def graph_problems(self) -> list[str]:
        """Each peer in the ROS graph on this node's topics that can never exchange messages with it,
        named (another type or type hash, incompatible QoS); [] when all is well."""
        me = (self.node.get_name(), self.node.get_namespace())
        peers: list[Endpoint] = []
        for topic in sorted({e.topic for e in self._own}):
            for publisher, infos in (
                (True, self.node.get_publishers_info_by_topic(topic)),
                (False, self.node.get_subscriptions_info_by_topic(topic)),
            ):
                peers += [
                    _peer_endpoint(topic, i, publisher, self._owners)
                    for i in infos
                    if (i.node_name, i.node_namespace) != me
                ]
        return problems(self._own, peers)

    def _owners(self, topic: str, publisher: bool) -> list[str]:
        """The nodes other than this one that the ROS graph lists with a publisher (subscription) on
        `topic`: it knows them by their ros_discovery_info even where it cannot tie an endpoint to
        its node (Fast DDS 3.2 and Cyclone DDS peers: README "Tether in the ROS 2 graph")."""
        me = (self.node.get_name(), self.node.get_namespace())
        by_node = (
            self.node.get_publisher_names_and_types_by_node
            if publisher
            else self.node.get_subscriber_names_and_types_by_node
        )
        out = []
        for name, ns in self.node.get_node_names_and_namespaces():
            if (name, ns) != me and topic in dict(by_node(name, ns)):
                out.append(f"{ns.rstrip('/')}/{name}")
        return sorted(out)

    def _check_graph(self) -> None:
        while not self._graph_stop.wait(CHECK_PERIOD_S):
            try:
                with self._graph_lock:
                    if self._graph_stop.is_set():
                        return
                    self._graph_log.update(self.graph_problems())
            except Exception:  # the check only reports; it must never take the node down
                if self._context.ok() and not self._graph_stop.is_set():
                    log.exception("graph check failed")

    def ok(self) -> bool:
        """False once this node's ROS context has shut down (Ctrl-C, rclpy.shutdown)."""
        return self._context.ok()

    def destroy_entities(self) -> None:
        """Remove every publisher and subscription made through this transport (lifecycle cleanup)."""
        for e in self._entities:
            destroy = self.node.destroy_publisher if hasattr(e, "publish") else self.node.destroy_subscription
            destroy(e)
        self._entities.clear()
        with self._graph_lock:
            self._own.clear()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._executor.spin, name="rclpy-spin", daemon=True)
            self._thread.start()
        if self._graph_thread is None:
            self._graph_thread = threading.Thread(target=self._check_graph, name="rclpy-graph", daemon=True)
            self._graph_thread.start()

    def close(self) -> None:
        self._graph_stop.set()
        with self._graph_lock:  # no graph query runs while the node goes away
            pass
        self._executor.shutdown()
        self.node.destroy_node()
        if self._context.ok():
            self._context.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def _own_endpoint(topic: str, ros_type: str, p: QosProfile, publisher: bool) -> Endpoint:
    from deploy.transport.messages import type_hash

    return Endpoint(topic, ros_type, type_hash(ros_type), p.reliable, p.transient_local, publisher)


def _peer_endpoint(
    topic: str, info: Any, publisher: bool, owners: Callable[[str, bool], list[str]]
) -> Endpoint:
    """An rclpy TopicEndpointInfo as an Endpoint; `owners(topic, publisher)` names the candidates
    when the graph ties the endpoint to no node."""
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    h = info.topic_type_hash
    q = info.qos_profile
    if info.node_name.startswith("_"):  # _CREATED_BY_BARE_DDS_APP_, _NODE_NAME_UNKNOWN_
        kind = "publish" if publisher else "subscribe"
        nodes = ", ".join(owners(topic, publisher)) or "none"
        who = (
            f"with GID {bytes(info.endpoint_gid).hex()} (the ROS graph ties it to no node; nodes that "
            f"{kind} {topic}: {nodes})"
        )
    else:
        who = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
    return Endpoint(
        topic=topic,
        type=info.topic_type,
        type_hash=str(h) if getattr(h, "version", -1) > 0 else None,
        reliable=q.reliability == ReliabilityPolicy.RELIABLE,
        transient_local=q.durability == DurabilityPolicy.TRANSIENT_LOCAL,
        publisher=publisher,
        who=who,
    )


def run_node(node_cls: Callable[..., Any], node_name: str, args: list[str] | None = None) -> None:
    """Entry point of a Tether node under ROS 2: parameters from ROS, loop until Ctrl-C."""
    import signal

    logging.basicConfig(level=logging.INFO, format=f"[{node_name}] %(levelname)s %(message)s")
    transport = RclpyTransport(node_name, args=args)
    node = node_cls(transport, transport.parameters())
    signal.signal(signal.SIGINT, lambda *_: node.stop())
    signal.signal(signal.SIGTERM, lambda *_: node.stop())
    try:
        node.run()
    finally:
        transport.close()
