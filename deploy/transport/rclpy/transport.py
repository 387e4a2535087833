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


class RclpyPublisher:
    def __init__(self, pub: Any) -> None:
        self.pub = pub

    def publish(self, msg: Any) -> None:
        self.pub.publish(msg)


class RclpyTransport:
    name = "rclpy"

    def __init__(self, node_name: str, domain_id: int | None = None, args: list[str] | None = None) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._context = rclpy.Context()
        init_kwargs: dict[str, Any] = {"args": args, "context": self._context}
        if domain_id is not None:
            init_kwargs["domain_id"] = domain_id
        rclpy.init(**init_kwargs)
        self.node = rclpy.create_node(
            node_name,
            context=self._context,
            allow_undeclared_parameters=True,
            automatically_declare_parameters_from_overrides=True,
        )
        self.node_name = node_name
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def parameters(self) -> dict[str, Any]:
        """The node's parameters (from --params-file / launch) in nested form, without use_sim_time."""
        from deploy.nodes.params import unflatten

        flat = {name: p.value for name, p in self.node._parameters.items() if name != "use_sim_time"}
        return unflatten(flat)

    def make(self, ros_type: str, **fields: Any) -> Any:
        return make_message(ros_type, **fields)

    def publisher(self, topic: str, ros_type: str, qos: str | QosProfile) -> RclpyPublisher:
        p = profile(qos) if isinstance(qos, str) else qos
        return RclpyPublisher(self.node.create_publisher(message_class(ros_type), topic, to_rclpy(p)))

    def subscribe(
        self, topic: str, ros_type: str, qos: str | QosProfile, callback: Callable[[Any], None]
    ) -> None:
        p = profile(qos) if isinstance(qos, str) else qos
        self.node.create_subscription(message_class(ros_type), topic, callback, to_rclpy(p))

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
