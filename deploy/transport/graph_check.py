"""Peers on a node's topics that can never exchange messages with it, named: a different type or
type hash under the same topic, or incompatible QoS.

DDS matches a reader and a writer only when their QoS are compatible (a reliable reader needs a
reliable writer; a transient-local reader needs a transient-local writer) and, between vendors,
by type name only: a message of the right name whose definition changed (another ROS 2
distribution, an edited .msg) carries a different RIHS01 type hash in its endpoint's USER_DATA
(ROS 2 Iron and later; Humble sends none). Either way nothing arrives and nothing fails: the
silence is the whole symptom. Each transport lists the peers it has discovered on its own topics
(`Transport.graph_problems()`; the DDS transport from Cyclone's built-in discovery topics, the
rclpy transport from the ROS graph) and `problems()` here names what cannot work, once per peer;
the transports log each new problem as a warning and keep the list, and nothing stops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger("tether.transport.graph")

#: How often the transports look at the graph (s).
CHECK_PERIOD_S = 1.0


@dataclass(frozen=True)
class Endpoint:
    """One reader or writer on a ROS topic, this node's or a peer's."""

    topic: str  # ROS name, e.g. /odom
    type: str  # ROS type, e.g. nav_msgs/msg/Odometry
    type_hash: str | None  # RIHS01_<hex>, None when the endpoint announces none (Humble, bare DDS)
    reliable: bool
    transient_local: bool
    publisher: bool  # True: a writer (publisher); False: a reader (subscription)
    who: str = "this node"  # the peer's node (/ns/name), or its DDS participant when no node is known

    @property
    def kind(self) -> str:
        return "publisher" if self.publisher else "subscription"


def _reliability(reliable: bool) -> str:
    return "RELIABLE" if reliable else "BEST_EFFORT"


def _durability(transient_local: bool) -> str:
    return "TRANSIENT_LOCAL" if transient_local else "VOLATILE"


def problems(own: Iterable[Endpoint], peers: Iterable[Endpoint]) -> list[str]:
    """Each way a peer on one of `own`'s topics fails to exchange messages with it, in words that
    name the topic, both types or hashes or QoS policies, and the peer."""
    out: list[str] = []
    peers = list(peers)
    for mine in own:
        for peer in peers:
            if peer.topic != mine.topic or peer.publisher == mine.publisher:
                continue
            pub, sub = (mine, peer) if mine.publisher else (peer, mine)
            where = f"on {mine.topic}: {peer.kind} {peer.who}"
            if peer.type != mine.type:
                out.append(
                    f"type mismatch {where} uses {peer.type}, this node's {mine.kind} {mine.type}: "
                    "no messages are exchanged"
                )
                continue
            if peer.type_hash and mine.type_hash and peer.type_hash != mine.type_hash:
                out.append(
                    f"type hash mismatch {where} has {peer.type} with {peer.type_hash}, this node's "
                    f"{mine.kind} expects {mine.type_hash}: the definitions differ (another ROS 2 "
                    "distribution or a changed .msg); its messages may not arrive, or be misread"
                )
            if sub.reliable and not pub.reliable:
                out.append(
                    f"incompatible QoS {where}: the subscription requests reliability "
                    f"{_reliability(sub.reliable)}, the publisher offers {_reliability(pub.reliable)}; "
                    "no messages are exchanged"
                )
            if sub.transient_local and not pub.transient_local:
                out.append(
                    f"incompatible QoS {where}: the subscription requests durability "
                    f"{_durability(sub.transient_local)}, the publisher offers "
                    f"{_durability(pub.transient_local)}; no messages are exchanged"
                )
    return out


class ProblemLog:
    """The problems seen so far; each is logged once, as a warning naming the node, when two checks
    in a row found it in the same words (a peer's endpoints are often discovered a moment before
    the ros_discovery_info that names its node)."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.seen: list[str] = []
        self._previous: set[str] = set()

    def update(self, current: Iterable[str]) -> list[str]:
        """Record one check's problems; returns (and logs) those logged now."""
        current = list(current)
        new = [p for p in current if p in self._previous and p not in self.seen]
        self._previous = set(current)
        for p in new:
            self.seen.append(p)
            log.warning("%s: %s", self.node_name, p)
        return new
