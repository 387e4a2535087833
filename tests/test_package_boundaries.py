"""The robot-side package stays the robot-side package: deploy/ runs on a robot computer without
MuJoCo, PyTorch or the training code. Only the simulator bridges (HIL) may reach into sim/."""

import ast
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
#: The simulator bridges impersonate the robot for HIL (quadrotor and legged); they are the only
#: part of deploy/ allowed sim/.
MAY_IMPORT_SIM = {"sim_bridge.py", "nodes/sim_bridge_node.py", "nodes/legged_sim_bridge_node.py"}
NEVER = ("training", "torch", "bench", "tether")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_deploy_never_imports_training_code_or_pytorch():
    offenders = {
        str(p.relative_to(DEPLOY)): sorted(_imports(p) & set(NEVER)) for p in DEPLOY.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_simulator_bridge_imports_sim():
    users = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.py") if "sim" in _imports(p)}
    assert users <= MAY_IMPORT_SIM, sorted(users - MAY_IMPORT_SIM)
    assert users  # the check sees the bridge's imports, so it would see any other module's
