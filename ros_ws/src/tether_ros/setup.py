"""ament_python package of Tether's ROS 2 entry points (colcon build; ROS 2 Humble and Jazzy).

The nodes are thin: `tether_ros.policy_node:main`, `tether_ros.sim_bridge_node:main` and
`tether_ros.legged_sim_bridge_node:main` start the node logic of Tether's deploy/ package on
rclpy, so the Tether project itself must be importable in the Python that runs them (README: a
venv with --system-site-packages and `pip install -e .`).
Launch files and their parameter files are installed into share/tether_ros.
"""

from glob import glob

from setuptools import setup

PACKAGE = "tether_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("launch/config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Tether maintainers",
    maintainer_email="tether@example.org",
    description="ROS 2 entry points of Tether: policy node and simulator bridge nodes.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"policy_node = {PACKAGE}.policy_node:main",
            f"sim_bridge_node = {PACKAGE}.sim_bridge_node:main",
            f"legged_sim_bridge_node = {PACKAGE}.legged_sim_bridge_node:main",
        ],
    },
)
