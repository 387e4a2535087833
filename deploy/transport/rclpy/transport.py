"""The node logic on rclpy with ROS 2's own message classes (only where ROS 2 is installed).

Never imported together with Cyclone DDS Python: a process uses one transport. Parameters come
from ROS (`--ros-args --params-file`, launch files) through rclpy's parameter overrides and are
handed to the node logic in the same nested form the DDS entry point reads from the file.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from deploy.transport.qos import QosProfile, profile, to_rclpy

log = logging.getLogger("tether.transport.rclpy")


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
        self.node_name = node_name
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def parameters(self) -> dict[str, Any]:
        """The node's parameters (from --params-file / launch) in nested form, without the ones every
        rclpy node declares itself (ROS_NODE_PARAMETERS)."""
        from deploy.nodes.params import unflatten

        flat = {
            name: p.value for name, p in self.node._parameters.items() if name not in ROS_NODE_PARAMETERS
        }
        return unflatten(flat)

    def make(self, ros_type: str, **fields: Any) -> Any:
        return make_message(ros_type, **fields)

    def publisher(self, topic: str, ros_type: str, qos: str | QosProfile) -> RclpyPublisher:
        p = profile(qos) if isinstance(qos, str) else qos
        pub = self.node.create_publisher(message_class(ros_type), topic, to_rclpy(p))
        self._entities.append(pub)
        return RclpyPublisher(pub)

    def subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None]
    ) -> None:
        p = profile(qos) if isinstance(qos, str) else qos
        sub = self.node.create_subscription(message_class(ros_type), topic, callback, to_rclpy(p))
        self._entities.append(sub)

    def ok(self) -> bool:
        """False once this node's ROS context has shut down (Ctrl-C, rclpy.shutdown)."""
        return self._context.ok()

    def destroy_entities(self) -> None:
        """Remove every publisher and subscription made through this transport (lifecycle cleanup)."""
        for e in self._entities:
            destroy = self.node.destroy_publisher if hasattr(e, "publish") else self.node.destroy_subscription
            destroy(e)
        self._entities.clear()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._executor.spin, name="rclpy-spin", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        if self._context.ok():
            self._context.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


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
