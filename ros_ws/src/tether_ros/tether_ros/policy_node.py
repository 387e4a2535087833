"""`ros2 run tether_ros policy_node --ros-args --params-file ...`: deploy.nodes.policy_node on rclpy."""

from __future__ import annotations


def main(args: list[str] | None = None) -> None:
    from deploy.nodes.policy_node import NODE_NAME, PolicyNode
    from deploy.transport.rclpy.transport import run_node

    run_node(PolicyNode, NODE_NAME, args)


if __name__ == "__main__":
    main()
