"""`ros2 run tether_ros legged_sim_bridge_node --ros-args --params-file ...`: the legged bridge on rclpy."""

from __future__ import annotations


def main(args: list[str] | None = None) -> None:
    from deploy.nodes.legged_sim_bridge_node import NODE_NAME, LeggedSimBridgeNode
    from deploy.transport.rclpy.transport import run_node

    run_node(LeggedSimBridgeNode, NODE_NAME, args)


if __name__ == "__main__":
    main()
