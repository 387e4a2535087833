"""The authenticated command plane (deploy/transport/command_auth.py, README "Security").

Unit tests of the token, the guard and the e-stop rules run without DDS (NullTransport). The last
two tests run on real Cyclone DDS, loopback, a leased private domain: a participant without an
authorized key can neither arm the policy node, nor reset its e-stop, nor move the simulator
bridge's motors, by unsigned messages, its own key, a tampered token or a replayed one; the
operator's signed commands work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deploy.provenance import generate_keypair, load_public_key
from deploy.transport import convert
from deploy.transport.cdr import JointStateEncoder
from deploy.transport.command_auth import (
    AUTH_SUFFIX,
    AuthorizedKeys,
    CommandAuthError,
    CommandGuard,
    CommandSigner,
    SignedPublisher,
    auth_message,
    authorized_line,
    canonical_bytes,
)
from tests.runtime_helpers import NullTransport, hover_policy
from tether.command import CommandFailedError, send

ARM = "/tether/arm"
BOOL = "std_msgs/msg/Bool"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Key pairs: operator and policy_node (authorized), intruder (not); authorized-keys files."""
    d = tmp_path_factory.mktemp("keys")
    out: dict[str, Path] = {}
    for name in ("operator", "policy_node", "intruder"):
        out[name], _pub = generate_keypair(d, name)
    for name, who in (("operators", "operator"), ("drivers", "policy_node")):
        line = authorized_line(who, load_public_key(d / f"{who}.pub"))
        (d / name).write_text(f"# {name} allowed to command\n{line}\n")
        out[name] = d / name
    return out


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hover_policy(tmp_path_factory.mktemp("auth") / "hover.onnx")


class _Clock:
    def __init__(self) -> None:
        self.mono = 0.0
        self.wall_ns = 1_000_000_000_000

    def __call__(self) -> float:
        return self.mono


def _guard(
    keys: dict[str, Path], clock: _Clock | None = None, **kw: Any
) -> tuple[CommandGuard, NullTransport, list]:
    clock = clock or _Clock()
    guard = CommandGuard(
        AuthorizedKeys.from_file(keys["operators"]),
        "test_node",
        wall_ns=lambda: clock.wall_ns,
        monotonic=clock,
        **kw,
    )
    t = NullTransport("test_node")
    got: list = []
    guard.subscribe(t, ARM, BOOL, "default", got.append)
    return guard, t, got


def _send(
    t: NullTransport, signer: CommandSigner, msg: Any, topic: str = ARM, token_first: bool = False
) -> bytes:
    token = signer.token(topic, BOOL, msg)
    steps = [lambda: t.deliver(ARM, msg), lambda: t.deliver(ARM + AUTH_SUFFIX, auth_message(t, token))]
    for step in reversed(steps) if token_first else steps:
        step()
    return token


# -- the token and the guard, without DDS --------------------------------------------------------------


def test_canonical_encoding_depends_on_values_only():
    t = NullTransport()
    a = convert.actuator_command_msg(
        t.make, t.make("builtin_interfaces/msg/Time", sec=3), ["m0", "m1"], [0.5, 0.25]
    )
    b = convert.actuator_command_msg(
        t.make, t.make("builtin_interfaces/msg/Time", sec=3), ["m0", "m1"], [0.5, 0.25]
    )
    c = convert.actuator_command_msg(
        t.make, t.make("builtin_interfaces/msg/Time", sec=3), ["m0", "m1"], [0.5, 0.26]
    )
    js = "sensor_msgs/msg/JointState"
    assert canonical_bytes(a, js) == canonical_bytes(b, js) != canonical_bytes(c, js)
    assert canonical_bytes(t.make(BOOL, data=True), BOOL) == b"\x01"
    assert canonical_bytes(t.make(BOOL, data=False), BOOL) == b"\x00"


def test_signed_commands_pass_in_either_order_and_everything_else_is_dropped_by_reason(keys, caplog):
    clock = _Clock()
    guard, t, got = _guard(keys, clock)
    op = CommandSigner.from_file(keys["operator"])
    op._clock_ns = lambda: clock.wall_ns
    arm = t.make(BOOL, data=True)
    _send(t, op, arm)
    _send(t, op, t.make(BOOL, data=False), token_first=True)
    assert [m.data for m in got] == [True, False]

    with caplog.at_level("WARNING", logger="tether.command_auth"):
        for _ in range(3):  # unsigned: dropped once it has waited pair_timeout_s for a token
            t.deliver(ARM, arm)
        clock.mono += 1.0
        assert guard.stats()["unsigned"] == 3
        intruder = CommandSigner.from_file(keys["intruder"])
        intruder._clock_ns = lambda: clock.wall_ns
        _send(t, intruder, arm)  # a key not in the file
        token = op.token(ARM, BOOL, t.make(BOOL, data=False))  # a valid token for another message
        t.deliver(ARM, arm)  # does not vouch for this one (which stays unsigned)
        t.deliver(ARM + AUTH_SUFFIX, auth_message(t, token))
        tampered = bytearray(op.token(ARM, BOOL, arm))
        tampered[12] ^= 1  # the counter changed: the signature no longer covers it
        t.deliver(ARM + AUTH_SUFFIX, auth_message(t, bytes(tampered)))
        replay = _send(t, op, arm)  # accepted ...
        t.deliver(ARM, arm)  # ... and its exact bytes again
        t.deliver(ARM + AUTH_SUFFIX, auth_message(t, replay))
        t.deliver(ARM + AUTH_SUFFIX, auth_message(t, b"\x01" * 10))
        other = op.token("/tether/estop_reset", BOOL, arm)  # signed for another topic
        t.deliver(ARM, arm)
        t.deliver(ARM + AUTH_SUFFIX, auth_message(t, other))
        clock.wall_ns += 10**10  # 10 s later, a token signed now with the old clock: outside max_age_s
        old = CommandSigner.from_file(keys["operator"])
        old._clock_ns = lambda: clock.wall_ns - 10**10
        _send(t, old, arm)
        clock.mono += 1.0
        stats = guard.stats()
    assert [m.data for m in got] == [True, False, True]
    assert stats["unknown_key"] == 1 and stats["replayed"] == 1 and stats["malformed"] == 1
    assert stats["bad_signature"] == 2 and stats["stale"] == 1  # tampered, another topic's token
    assert stats["accepted"] == 3 and stats["mode"] == "signed"
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 6 and all("dropped a command on /tether/arm" in m for m in logged)  # once a reason


def test_a_counter_is_accepted_once_per_key_and_topic_and_the_writer_counts_upwards(keys):
    op = CommandSigner.from_file(keys["operator"])
    op._clock_ns = lambda: 5  # a clock standing still (or stepped back) still yields new counters
    assert [op.next_counter() for _ in range(3)] == [5, 6, 7]


def test_authorized_keys_file_errors_name_the_line_and_what_to_write(tmp_path, keys):
    bad = tmp_path / "bad"
    bad.write_text("operator not-base64!\n")
    with pytest.raises(CommandAuthError, match=r"bad:1: not an authorized-keys line.*NAME BASE64"):
        AuthorizedKeys.from_file(bad)
    bad.write_text("# nothing\n")
    with pytest.raises(CommandAuthError, match="lists no key"):
        AuthorizedKeys.from_file(bad)
    with pytest.raises(CommandAuthError, match="not found"):
        AuthorizedKeys.from_file(tmp_path / "missing")
    with pytest.raises(CommandAuthError, match="one word"):
        authorized_line("two words", load_public_key(keys["operator"].with_suffix(".pub")))


def test_estop_false_never_resets_only_estop_reset_does(policy, keys):
    t = NullTransport()
    node = _node(t, policy, {})
    node.runtime.estop("test")
    node.runtime.step(0.0)
    t.deliver("/tether/estop", t.make(BOOL, data=False))
    node.runtime.step(0.01)
    assert node.runtime.state.value == "ESTOP" and node.estop_false_ignored == 1
    t.deliver("/tether/estop_reset", t.make("std_msgs/msg/Empty"))
    assert node.runtime.state.value == "DISARMED"


def test_with_keys_the_node_drops_unsigned_arm_and_reset_and_signs_its_commands(policy, keys):
    t = NullTransport()
    node = _node(
        t, policy, {"authorized_keys": str(keys["operators"]), "signing_key": str(keys["policy_node"])}
    )
    assert "/tether/arm/auth" in t.callbacks and "/tether/estop_reset/auth" in t.callbacks
    assert "/tether/reference/auth" in t.callbacks and "/tether/estop/auth" not in t.callbacks
    node.runtime.estop("test")
    node.runtime.step(0.0)
    t.deliver("/tether/estop_reset", t.make("std_msgs/msg/Empty"))
    assert node.runtime.state.value == "ESTOP"
    assert node._cmd_pub.publish_cdr_signed is None  # CDR only where the transport writes bytes
    node._cmd_pub.publish(t.make("sensor_msgs/msg/JointState", name=["motor_0"], effort=[0.1]))
    assert len(t.published["/tether/actuator_command/auth"]) == 1
    values = node.diagnostics_statuses()[0][4]
    assert values["command_auth.mode"] == "signed"


def _node(t: Any, policy: Path, auth: dict[str, Any]) -> Any:
    from deploy.nodes.policy_node import PolicyNode

    return PolicyNode(t, {"policy_file": str(policy), "airborne_start": True, "command_auth": auth})


# -- real DDS: an unauthorized participant against the operator ----------------------------------------


def _wait(
    cond: Callable[[], bool], what: str, timeout_s: float = 15.0, act: Callable[[], None] | None = None
) -> None:
    """Until `cond`, bounded; `act` (a command) is repeated every 0.3 s: on a loaded machine a late
    odometry can make the node refuse one arming, as an operator would simply try again."""
    deadline = time.monotonic() + timeout_s
    next_act = 0.0
    while time.monotonic() < deadline:
        if cond():
            return
        if act is not None and time.monotonic() >= next_act:
            act()
            next_act = time.monotonic() + 0.3
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


def _hold(cond: Callable[[], bool], what: str, seconds: float = 0.8) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert cond(), what
        time.sleep(0.02)


def test_an_unauthorized_participant_can_neither_arm_nor_reset_the_estop_on_dds(dds_domain, policy, keys):
    from deploy.transport.dds.loopback import use_loopback

    use_loopback()
    from deploy.transport.dds.transport import DdsTransport

    # a wide clock window: the replay below must be refused by its counter, not by its age
    auth = {"authorized_keys": str(keys["operators"]), "max_age_s": 60.0}
    node = _node(DdsTransport("policy_node", dds_domain), policy, auth)
    op_t, bad_t = DdsTransport("operator", dds_domain), DdsTransport("intruder", dds_domain)
    op = CommandSigner.from_file(keys["operator"])
    intruder = CommandSigner.from_file(keys["intruder"])
    arm_op = SignedPublisher(op_t, ARM, BOOL, "default", op)
    reset_op = SignedPublisher(op_t, "/tether/estop_reset", "std_msgs/msg/Empty", "default", op)
    ref_op = SignedPublisher(op_t, "/tether/reference", "nav_msgs/msg/Odometry", "default", op)
    odom = op_t.publisher("/odom", "nav_msgs/msg/Odometry", "sensor_data")
    arm_bad = bad_t.publisher(ARM, BOOL, "default")
    arm_bad_auth = bad_t.publisher(ARM + AUTH_SUFFIX, "std_msgs/msg/UInt8MultiArray", "default")
    arm_forged = SignedPublisher(bad_t, ARM, BOOL, "default", intruder)
    estop_bad = bad_t.publisher("/tether/estop", BOOL, "default")
    reset_bad = bad_t.publisher("/tether/estop_reset", "std_msgs/msg/Empty", "default")
    reset_forged = SignedPublisher(bad_t, "/tether/estop_reset", "std_msgs/msg/Empty", "default", intruder)
    sniffed: list[bytes] = []  # the intruder records the operator's arm tokens off the wire
    bad_t.subscribe(
        ARM + AUTH_SUFFIX,
        "std_msgs/msg/UInt8MultiArray",
        "default",
        lambda m: sniffed.append(bytes(m.data)) if bytes(m.data)[1:9] == op.key_id else None,
    )
    stop = threading.Event()

    def sensors() -> None:  # odometry and the (signed) reference at 100 Hz, stamped on the wall clock
        while not stop.is_set():
            now = time.time()
            odom.publish(convert.odometry_msg(op_t.make, now, [0, 0, 2], [1, 0, 0, 0], [0, 0, 0], [0, 0, 0]))
            ref_op.publish(convert.reference_msg(op_t.make, now, np.array([0, 0, 2.0]), np.zeros(3)))
            time.sleep(0.01)

    state = lambda: node.runtime.state.value  # noqa: E731
    runner = threading.Thread(target=node.run, daemon=True)
    feeder = threading.Thread(target=sensors, daemon=True)
    op_t.start()
    bad_t.start()
    runner.start()
    feeder.start()
    try:
        _wait(lambda: not node.runtime.arming_problems(), "the node has fresh odometry and reference")
        for _ in range(10):  # unsigned, and signed with its own key
            arm_bad.publish(bad_t.make(BOOL, data=True))
            arm_forged.publish(bad_t.make(BOOL, data=True))
            time.sleep(0.02)
        _hold(lambda: state() == "DISARMED", "an unauthorized writer armed the node")
        assert not node.arm_refusals  # no arm command reached the runtime at all (not merely refused)
        stats = node.guard.stats()
        assert stats["unsigned"] >= 10 and stats["unknown_key"] >= 10, stats

        arm = lambda: arm_op.publish(op_t.make(BOOL, data=True))  # noqa: E731
        _wait(lambda: state() in ("STARTING", "RUNNING"), "the operator's signed arm", act=arm)  # it can
        _wait(lambda: bool(sniffed), "the intruder saw the operator's token")

        estop_bad.publish(bad_t.make(BOOL, data=True))  # anyone may stop the robot ...
        _wait(lambda: state() == "ESTOP", "an e-stop from any writer")
        for _ in range(5):  # ... but not release it
            estop_bad.publish(bad_t.make(BOOL, data=False))
            reset_bad.publish(bad_t.make("std_msgs/msg/Empty"))
            reset_forged.publish(bad_t.make("std_msgs/msg/Empty"))
            time.sleep(0.02)
        _hold(lambda: state() == "ESTOP", "an unauthorized writer reset the e-stop")
        assert node.estop_false_ignored >= 5

        reset_op.publish(op_t.make("std_msgs/msg/Empty"))  # the operator resets ...
        _wait(lambda: state() == "DISARMED", "the operator's signed e-stop reset")
        refusals = len(node.arm_refusals)
        arm_bad.publish(bad_t.make(BOOL, data=True))  # ... and a replay of the operator's arm fails
        arm_bad_auth.publish(auth_message(bad_t, sniffed[0]))
        tampered = bytearray(sniffed[-1])
        tampered[20] ^= 0xFF
        arm_bad_auth.publish(auth_message(bad_t, bytes(tampered)))
        _hold(lambda: state() == "DISARMED", "a replayed or tampered arm token armed the node")
        assert len(node.arm_refusals) == refusals  # it never reached the runtime
        stats = node.guard.stats()
        assert stats["replayed"] >= 1 and stats["bad_signature"] >= 1, stats

        _wait(lambda: state() in ("STARTING", "RUNNING"), "the operator arms again", act=arm)

        # the same from a shell: `tether command` (anyone may stop; only the operator's key resets)
        assert send("estop", None, dds_domain, node_name="shell").endswith("ESTOP")
        with pytest.raises(CommandFailedError, match="stayed ESTOP"):
            send("estop-reset", str(keys["intruder"]), dds_domain, wait_s=1.0, node_name="shell")
        with pytest.raises(ValueError, match="must be signed"):
            send("estop-reset", None, dds_domain)
        assert send("estop-reset", str(keys["operator"]), dds_domain, node_name="shell").endswith("DISARMED")
    finally:
        stop.set()
        node.stop()
        runner.join(timeout=5)
        feeder.join(timeout=5)
        for tr in (op_t, bad_t, node.t):
            tr.close()


def test_an_unauthorized_participant_cannot_move_the_bridges_motors_on_dds(dds_domain, keys):
    from deploy.transport.dds.loopback import use_loopback

    use_loopback()
    from deploy.nodes.sim_bridge_node import SimBridgeNode
    from deploy.transport.dds.transport import DdsTransport

    bridge = SimBridgeNode(
        DdsTransport("sim_bridge_node", dds_domain),
        {"command_auth": {"authorized_keys": str(keys["drivers"])}},
    )
    node_t, bad_t = DdsTransport("policy_node", dds_domain), DdsTransport("intruder", dds_domain)
    topic, js = "/tether/actuator_command", "sensor_msgs/msg/JointState"
    legit = SignedPublisher(node_t, topic, js, "default", CommandSigner.from_file(keys["policy_node"]))
    unsigned = bad_t.publisher(topic, js, "default")
    forged = SignedPublisher(bad_t, topic, js, "default", CommandSigner.from_file(keys["intruder"]))
    motors = list(bridge.motors)

    def command(t: Any, thrust: float) -> Any:
        return convert.actuator_command_msg(
            t.make, t.make("builtin_interfaces/msg/Time"), motors, [thrust] * 4
        )

    for tr in (bridge.t, node_t, bad_t):
        tr.start()
    try:
        time.sleep(0.5)  # discovery on loopback
        for _ in range(20):
            unsigned.publish(command(bad_t, 0.97))
            forged.publish(command(bad_t, 0.97))
            time.sleep(0.02)
        _wait(lambda: bridge.guard.stats()["unknown_key"] >= 20, "the bridge saw the intruder's tokens")
        _hold(
            lambda: bridge.commands_rx == 0 and not bridge.flying, "an unauthorized writer moved the motors"
        )
        _wait(lambda: bridge.guard.stats()["unsigned"] >= 20, "the intruder's commands counted as dropped")
        for _ in range(5):
            legit.publish(command(node_t, 0.3))
            time.sleep(0.02)
        _wait(lambda: bridge.commands_rx >= 5, "the policy node's signed commands reach the motors")
        assert np.allclose(bridge.command, 0.3) and bridge.flying
        # as the policy node writes them on DDS: the command's CDR and its token's, no message objects
        encoder = JointStateEncoder("base_link", motors)
        forged_cdr, legit_cdr = forged.publish_cdr_signed, legit.publish_cdr_signed
        assert forged_cdr is not None and legit_cdr is not None
        before = bridge.commands_rx
        for _ in range(5):
            forged_cdr(encoder.encode(0, 0, [0.9] * 4), encoder.canonical(0, 0, [0.9] * 4))
            time.sleep(0.02)
        _wait(lambda: bridge.guard.stats()["unknown_key"] >= 25, "the bridge saw the intruder's CDR tokens")
        _hold(lambda: bridge.commands_rx == before, "an unauthorized CDR writer moved the motors")
        for _ in range(5):
            legit_cdr(encoder.encode(0, 0, [0.5] * 4), encoder.canonical(0, 0, [0.5] * 4))
            time.sleep(0.02)
        _wait(lambda: bridge.commands_rx >= before + 5, "signed CDR commands reach the motors")
        assert np.allclose(bridge.command, 0.5)
    finally:
        for tr in (bridge.t, node_t, bad_t):
            tr.close()


def test_the_default_domain_is_ros_domain_id_from_the_environment(dds_domain, monkeypatch):
    from deploy.transport.dds.transport import DdsTransport, domain_from_environment

    monkeypatch.setenv("ROS_DOMAIN_ID", str(dds_domain))
    t = DdsTransport("env_domain")  # as node_main, tether command and a launch without --domain-id
    try:
        assert t.domain_id == dds_domain
    finally:
        t.close()
    monkeypatch.setenv("ROS_DOMAIN_ID", "")
    assert domain_from_environment() == 0
    monkeypatch.setenv("ROS_DOMAIN_ID", "robot1")
    with pytest.raises(ValueError, match="ROS_DOMAIN_ID must be an integer in 0..232, found 'robot1'"):
        domain_from_environment()
