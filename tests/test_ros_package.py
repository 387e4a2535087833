"""ros_ws/src/tether_ros: an ament_python package (format 3) whose entry points, launch files and
parameter files are the ones `tether hil` runs; built with colcon where colcon is installed."""

import ast
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tether.hil.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ros_ws" / "src" / "tether_ros"


def _entry_points():
    """console_scripts of setup.py, as {name: module:function} ({PACKAGE} is tether_ros)."""
    text = (PKG / "setup.py").read_text().replace("{PACKAGE}", "tether_ros")
    found = re.findall(r'f?"(\w+) = ([\w.]+:\w+)"', text)
    assert found, "setup.py declares no console_scripts"
    return dict(found)


def test_package_xml_is_format_3_ament_python():
    root = ET.parse(PKG / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "tether_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "launch_ros", "nav_msgs", "sensor_msgs", "diagnostic_msgs", "rosgraph_msgs"} <= deps
    assert (PKG / "resource" / "tether_ros").exists()
    assert "$base/lib/tether_ros" in (PKG / "setup.cfg").read_text()


def test_console_scripts_point_at_thin_entry_points_into_deploy():
    eps = _entry_points()
    assert set(eps) == {"policy_node", "sim_bridge_node", "legged_sim_bridge_node"}
    sys.path.insert(0, str(PKG))
    try:
        for name, target in eps.items():
            module, func = target.split(":")
            src = (PKG / (module.replace(".", "/") + ".py")).read_text()
            assert f"deploy.nodes.{name}" in src  # wiring only: the logic lives in deploy/
            mod = __import__(module, fromlist=[func])  # importable without rclpy (imported lazily)
            assert callable(getattr(mod, func))
    finally:
        sys.path.remove(str(PKG))


def test_launch_files_use_the_parameter_files_tether_hil_uses():
    assert (PKG / "launch").resolve() == (ROOT / "launch").resolve()
    sim = (ROOT / "launch" / "quadrotor_sim.launch.py").read_text()
    robot = (ROOT / "launch" / "quadrotor_policy.launch.py").read_text()
    ast.parse(sim)
    ast.parse(robot)
    assert '"quadrotor_sim.yaml"' in sim and '"quadrotor_robot.yaml"' in robot
    assert Scenario.load("quadrotor-hover").params_file == ROOT / "launch" / "config" / "quadrotor_sim.yaml"
    for text in (sim, robot):
        for exe in ("policy_node",):
            assert f'executable="{exe}"' in text and f'name="{exe}"' in text
    assert 'executable="sim_bridge_node"' in sim and "sim_bridge_node" not in robot.split('"""', 2)[2]


def _colcon() -> str | None:
    beside_python = Path(sys.executable).parent / "colcon"  # the project's venv, PATH or not
    found = os.environ.get("TETHER_COLCON") or shutil.which("colcon") or str(beside_python)
    return found if found and Path(found).exists() else None


@pytest.mark.skipif(
    _colcon() is None,
    reason="colcon is not installed (`make setup` installs it with the dev extras, "
    "or set TETHER_COLCON to its path)",
)
def test_colcon_builds_the_package(tmp_path):
    r = subprocess.run(
        [
            _colcon(),
            "--log-base",
            str(tmp_path / "log"),
            "build",
            "--base-paths",
            str(ROOT / "ros_ws" / "src"),
            "--build-base",
            str(tmp_path / "build"),
            "--install-base",
            str(tmp_path / "install"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    install = tmp_path / "install" / "tether_ros"
    share = install / "share" / "tether_ros"
    assert (share / "package.xml").exists()
    assert (share / "config" / "quadrotor_sim.yaml").read_text() == (
        ROOT / "launch" / "config" / "quadrotor_sim.yaml"
    ).read_text()
    assert (share / "launch" / "quadrotor_sim.launch.py").exists()
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "tether_ros").exists()
    for exe in ("policy_node", "sim_bridge_node"):
        assert (install / "lib" / "tether_ros" / exe).exists()
