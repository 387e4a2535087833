"""`ros2 run tether_ros sim_bridge_node --ros-args --params-file ...`: the bridge node on rclpy."""

from __future__ import annotations


def main(args: list[str] | None = None) -> None:
    from deploy.nodes.sim_bridge_node import NODE_NAME, SimBridgeNode
    from deploy.transport.rclpy.transport import run_node

    run_node(SimBridgeNode, NODE_NAME, args)


if __name__ == "__main__":
    main()
