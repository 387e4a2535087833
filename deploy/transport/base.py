"""The narrow interface node logic uses, implemented by the DDS and the rclpy transport.

Node logic (deploy/nodes/) only creates publishers and subscriptions by ROS
topic name, type and QoS profile name, builds messages with `make`, and reads
messages by attribute; it never sees DDS or rclpy. Subscription callbacks run
on the transport's receive thread; a transport delivers every message of one
subscription in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Publisher(Protocol):
    def publish(self, msg: Any) -> None: ...


class Transport(Protocol):
    name: str  # "dds" | "rclpy"
    node_name: str

    def make(self, ros_type: str, **fields: Any) -> Any:
        """A message of `ros_type`; unset fields default; nested messages may be given as dicts."""
        ...

    def publisher(self, topic: str, ros_type: str, qos: str) -> Publisher: ...

    def subscribe(self, topic: str, ros_type: str, qos: str, callback: Callable[[Any], None]) -> None: ...

    def start(self) -> None:
        """Begin delivering messages to callbacks (after every endpoint is created)."""
        ...

    def close(self) -> None: ...


def make_transport(kind: str, node_name: str, domain_id: int | None = None) -> Transport:
    """The transport `kind` ('dds' or 'rclpy') for a node; rclpy only where ROS 2 is installed."""
    if kind == "dds":
        from deploy.transport.dds.transport import DdsTransport

        return DdsTransport(node_name, domain_id)
    if kind == "rclpy":
        from deploy.transport.rclpy.transport import RclpyTransport

        return RclpyTransport(node_name, domain_id)
    raise ValueError(f"unknown transport '{kind}'; expected 'dds' (Cyclone DDS) or 'rclpy' (ROS 2)")
