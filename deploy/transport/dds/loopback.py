"""Cyclone DDS configuration that keeps all traffic on the loopback interface (HIL, tests).

Equivalent to ROS 2 Jazzy's ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST: unicast
discovery to 127.0.0.1 only, no multicast, so runs on a shared machine never
see (or disturb) other DDS traffic; a private domain id separates concurrent
runs on the same machine. Cyclone reads CYCLONEDDS_URI when a process creates
its first participant, so set it before that (use_loopback) or in the child's
environment (loopback_env).
"""

from __future__ import annotations

import os

LOOPBACK_URI = (
    "<CycloneDDS><Domain Id='any'><General><Interfaces><NetworkInterface address='127.0.0.1'/>"
    "</Interfaces><AllowMulticast>false</AllowMulticast></General>"
    "<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60</MaxAutoParticipantIndex>"
    "<Peers><Peer address='127.0.0.1'/></Peers></Discovery></Domain></CycloneDDS>"
)


def loopback_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (os.environ by default) with CYCLONEDDS_URI set to the loopback configuration."""
    out = dict(os.environ if env is None else env)
    out["CYCLONEDDS_URI"] = LOOPBACK_URI
    return out


def use_loopback() -> None:
    """Configure this process for loopback-only DDS (before its first participant exists)."""
    os.environ["CYCLONEDDS_URI"] = LOOPBACK_URI
