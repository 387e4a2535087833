"""`tether command`: the operator's signed commands to a policy node, from a shell.

    tether command arm --key ~/.tether/operator.key          # signed, on ROS_DOMAIN_ID
    tether command estop-reset --key ~/.tether/operator.key
    tether command estop                                     # needs no key: anyone may stop

`ros2 topic pub` cannot sign, so with the command plane on (the node's
command_auth.authorized_keys) this is how a person arms, disarms and resets the e-stop. It waits
for the policy node's latched /tether/state (which also means discovery is done), publishes the
command with its token on <topic>/auth (deploy/transport/command_auth.py), and reports the state
the node reaches, or the node's last arming refusal from /diagnostics.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from deploy.transport import convert
from deploy.transport.command_auth import CommandSigner, SignedPublisher
from deploy.transport.names import TOPICS


@dataclass(frozen=True)
class Action:
    role: str  # topic role in TOPICS
    data: bool | None  # std_msgs/Bool data; None for std_msgs/Empty
    signed: bool
    expect: tuple[str, ...]  # states that mean it worked


ACTIONS: dict[str, Action] = {
    "arm": Action("arm", True, True, ("STARTING", "RUNNING")),
    "disarm": Action("arm", False, True, ("DISARMED", "FAILSAFE")),
    "estop": Action("estop", True, False, ("ESTOP",)),
    "estop-reset": Action("estop_reset", None, True, ("DISARMED",)),
}


class CommandFailedError(RuntimeError):
    """The node was not found, or did not reach the state the command asks for."""


def send(
    action: str,
    key: str | None,
    domain_id: int | None = None,
    wait_s: float = 5.0,
    node_name: str = "operator",
) -> str:
    """Publish `action` (signed with `key` where it must be) and return the state the node reached."""
    from deploy.transport.dds.transport import DdsTransport

    if action not in ACTIONS:
        raise ValueError(f"unknown command {action!r}; expected one of {sorted(ACTIONS)}")
    a = ACTIONS[action]
    if a.signed and not key:
        raise ValueError(
            f"{action} must be signed: pass --key with the operator's private key (`tether keygen`), whose "
            "public line is in the policy node's command_auth.authorized_keys file"
        )
    signer = CommandSigner.from_file(key) if key and a.signed else None
    spec = TOPICS[a.role]
    t = DdsTransport(node_name, domain_id)
    states: list[str] = []
    refusal: list[str] = []
    got = threading.Event()

    def on_state(msg: Any) -> None:
        states.append(msg.data)
        got.set()

    def on_diag(msg: Any) -> None:
        for name, status in convert.diagnostics_to_dict(msg).items():
            if name.startswith("policy_node"):
                refusal[:] = [status["values"].get("last_arm_refusal", "")]

    try:
        pub = SignedPublisher(t, spec.name, spec.type, spec.qos, signer)
        t.subscribe(TOPICS["state"].name, TOPICS["state"].type, TOPICS["state"].qos, on_state)
        t.subscribe(TOPICS["diagnostics"].name, TOPICS["diagnostics"].type, "default", on_diag)
        t.start()
        if not got.wait(wait_s):
            raise CommandFailedError(
                f"no policy node found on DDS domain {t.domain_id} within {wait_s:g} s "
                f"(no {TOPICS['state'].name}); check ROS_DOMAIN_ID / --domain-id and that the node runs"
            )
        before = states[-1]
        msg = t.make(spec.type) if a.data is None else t.make(spec.type, data=a.data)
        pub.publish(msg)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if states[-1] in a.expect:
                return f"{before} → {states[-1]}"
            time.sleep(0.02)
        why = f"; the node's last arming refusal: {refusal[0]}" if refusal and refusal[0] else ""
        raise CommandFailedError(
            f"{action}: the node stayed {states[-1]} (expected {' or '.join(a.expect)}) for {wait_s:g} s"
            f"{why}; "
            "a dropped command is counted in its diagnostics (command_auth.*): is this key in its "
            "authorized-keys file, and are the clocks within its command_auth.max_age_s?"
        )
    finally:
        t.close()
