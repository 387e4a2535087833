"""HIL faults: how each is injected and the outcome it must have (the README's fault table).

A fault is written NAME or NAME@T (T: simulation seconds at which it starts).

==========  =====================================  ===========================================================
fault       injected by                            expected outcome (checked from the node reports)
==========  =====================================  ===========================================================
drop        bridge: 20 % of odometry and IMU       the flight still succeeds (hover + waypoints + landing)
            messages withheld, whole run
latency     bridge: 20 ms added to every sensor    the flight still succeeds
            message, whole run
freeze@T    bridge: no odometry for 200 ms         policy node enters FAILSAFE on stale odometry (older
                                                   than its limit), and no cycle ran the policy on odometry
                                                   older than its limit; the vehicle is not crashed
nan@T       bridge: 10 IMU messages with NaN       no non-finite actuator command is ever published (none
            angular velocity                       reaches the bridge, none suppressed in the node); the
                                                   node rejected the NaN messages
kill@T      HIL: SIGKILL of the policy process     the bridge's watchdog takes over after no more than its
                                                   timeout (+ one physics step) of simulated time without
                                                   commands, and lands the vehicle without a crash
estop@T     HIL: publishes true on /tether/estop   the policy node outputs the stop command from the first
                                                   cycle after receiving it (≤ 1 cycle) and no motor
                                                   command with thrust reaches the bridge afterwards
==========  =====================================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_AT_S = {"freeze": 8.0, "nan": 4.0, "kill": 8.0, "estop": 8.0}
KINDS = ("drop", "latency", "freeze", "nan", "kill", "estop")
DROP_PROBABILITY = 0.2
ADDED_LATENCY_S = 0.02
FREEZE_S = 0.2
NAN_COUNT = 10

#: Faults after which the flight is not expected to complete (the vehicle lands or falls).
DISRUPTIVE = {"freeze", "kill", "estop"}


@dataclass(frozen=True)
class Fault:
    kind: str
    at_s: float | None

    @classmethod
    def parse(cls, text: str) -> Fault:
        kind, _, at = text.partition("@")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise ValueError(f"unknown fault '{text}'; expected one of {list(KINDS)}, optionally @T (sim s)")
        if kind in ("drop", "latency"):
            if at:
                raise ValueError(f"fault '{kind}' lasts the whole run; it takes no @T")
            return cls(kind, None)
        try:
            at_s = float(at) if at else DEFAULT_AT_S[kind]
        except ValueError:
            raise ValueError(f"fault '{text}': @T must be a time in seconds, e.g. {kind}@8") from None
        if at_s < 0:
            raise ValueError(f"fault '{text}': the time must be ≥ 0 s")
        return cls(kind, at_s)

    @property
    def label(self) -> str:
        return self.kind if self.at_s is None else f"{self.kind}@{self.at_s:g}"

    def bridge_overrides(self) -> list[str]:
        """Parameter overrides (name=value) of the simulator bridge that inject this fault."""
        if self.kind == "drop":
            return [
                f"odometry.drop_probability={DROP_PROBABILITY}",
                f"imu.drop_probability={DROP_PROBABILITY}",
            ]
        if self.kind == "latency":
            return [f"odometry.latency_s={ADDED_LATENCY_S}", f"imu.latency_s={ADDED_LATENCY_S}"]
        if self.kind == "freeze":
            return [f"faults.freeze_at_s={self.at_s}", f"faults.freeze_s={FREEZE_S}"]
        if self.kind == "nan":
            return [f"faults.nan_at_s={self.at_s}", f"faults.nan_count={NAN_COUNT}", "faults.nan_sensor=imu"]
        return []

    def expected(self) -> str:
        return {
            "drop": "flight still succeeds",
            "latency": "flight still succeeds",
            "freeze": "policy node enters FAILSAFE within its staleness bound; no crash",
            "nan": "no non-finite command ever published",
            "kill": "bridge watchdog takes over within its timeout and lands; no crash",
            "estop": "motors stop within one cycle",
        }[self.kind]


def outcome(
    fault: Fault,
    flight: dict[str, Any],
    bridge: dict[str, Any],
    policy: dict[str, Any] | None,
    events: dict[str, Any],
    bridge_params: dict[str, Any],
) -> dict[str, Any]:
    """Observed outcome of `fault` and whether it met its expectation."""
    out: dict[str, Any] = {"fault": fault.label, "expected": fault.expected()}
    crash = bridge.get("crash")
    if fault.kind in ("drop", "latency"):
        out["observed"] = {
            "flight_success": flight.get("success"),
            "injected_drops": sum(bridge["dropped"].values()),
            "injected_delays": bridge.get("delayed", 0),
        }
        met = bool(flight.get("success"))
        if fault.kind == "drop":
            met = met and sum(bridge["dropped"].values()) > 0
        else:
            met = met and bridge.get("delayed", 0) > 0
    elif fault.kind == "freeze":
        obs: dict[str, Any] = {"crash": crash, "frozen_messages": bridge.get("frozen_out", 0)}
        met = False
        if policy is not None:
            to_failsafe = [
                t for t in policy["transitions_all"] if t["to"] == "FAILSAFE" and "odometry" in t["reason"]
            ]
            obs["failsafe_transition"] = to_failsafe[0] if to_failsafe else None
            limit_s = policy["input_max_age_s"].get("odometry")
            period_s = 1.0 / policy["control_rate_hz"]
            obs["staleness_limit_s"] = limit_s
            stale_age_s = _stale_age_s(to_failsafe[0]["reason"]) if to_failsafe else None
            obs["odometry_age_at_failsafe_s"] = stale_age_s
            used_s = policy.get("policy_input_age_max_s", {}).get("odometry")
            obs["oldest_odometry_the_policy_ran_on_s"] = used_s
            # Wall-clock figure, reported only (bench/hil_timing.py prints it): on an unloaded host the
            # first cycle that sees the odometry past its limit fails safe, under one period later.
            obs["within_one_period_of_limit"] = (
                None
                if stale_age_s is None or limit_s is None
                else bool(stale_age_s <= limit_s + period_s + 1e-9)
            )
            met = bool(
                to_failsafe
                and stale_age_s is not None
                and limit_s is not None
                and stale_age_s >= limit_s  # the reason prints the age to 0.1 ms
                and used_s is not None
                and used_s <= limit_s
                and crash is None
                and bridge.get("frozen_out", 0) > 0
            )
        out["observed"] = obs
    elif fault.kind == "nan":
        rejected = None
        sensor = str(bridge_params["faults"]["nan_sensor"])  # imu; odometry on PX4 (tether/hil/px4.py)
        if policy is not None:
            rejected = policy["diagnostics"]["inputs"].get(sensor, {}).get("rejected")
        out["observed"] = {
            "nonfinite_commands_received": bridge["nonfinite_commands"],
            "nonfinite_suppressed_in_node": None if policy is None else policy["nonfinite_suppressed"],
            "nan_messages_sent": bridge["nan_sent"],
            f"{sensor}_messages_rejected": rejected,
        }
        met = (
            bridge["nonfinite_commands"] == 0
            and policy is not None
            and policy["nonfinite_suppressed"] == 0
            and bridge["nan_sent"] > 0
            and (rejected or 0) > 0
        )
    elif fault.kind == "kill":
        wd = bridge.get("watchdog")
        # the watchdog's own timeout where it reports one (PX4: COM_OF_LOSS_T on the heartbeat)
        timeout_s = float((wd or {}).get("timeout_s", bridge_params["watchdog"]["timeout_s"]))
        sim_dt_s = 1.0 / float(bridge_params["sim_rate_hz"])
        obs = {"watchdog": wd, "crash": crash, "killed_at_mono_s": events.get("kill_mono_s")}
        met = False
        if wd is not None:
            obs["kill_to_watchdog_ms"] = (
                None if events.get("kill_mono_s") is None else (wd["mono_s"] - events["kill_mono_s"]) * 1e3
            )
            silent_steps_s = wd["steps_since_last_command"] * sim_dt_s
            obs["silent_sim_s_at_trip"] = silent_steps_s
            met = bool(
                silent_steps_s <= timeout_s + sim_dt_s + 1e-9 and crash is None and wd.get("landed")
            )
        out["observed"] = obs
    elif fault.kind == "estop":
        obs = {"crash_expected_after_motor_stop": crash}
        met = False
        if policy is not None:
            rx, first = policy.get("estop_rx_cycle"), policy.get("estop_first_stop_cycle")
            obs["estop_rx_cycle"], obs["first_stop_cycle"] = rx, first
            cycles = None if rx is None or first is None else first - rx
            obs["cycles_to_stop"] = cycles
            sent = events.get("estop_mono_s")
            zeros_after = [t for t in bridge["zero_commands_rx"] if sent is not None and t >= sent]
            first_zero = zeros_after[0] if zeros_after else None
            last_thrust = bridge.get("last_nonzero_rx_s")
            obs["motors_stopped_ms_after_estop"] = None if first_zero is None else (first_zero - sent) * 1e3
            obs["thrust_after_stop"] = bool(
                first_zero is not None and last_thrust is not None and last_thrust > first_zero
            )
            met = bool(
                cycles is not None and cycles <= 1 and first_zero is not None and not obs["thrust_after_stop"]
            )
        out["observed"] = obs
    else:  # pragma: no cover - parse() admits only KINDS
        raise ValueError(fault.kind)
    out["met"] = bool(met)
    return out


def _stale_age_s(reason: str) -> float | None:
    """The age in 'odometry: 52.0 ms old (limit 50.0 ms)' in seconds."""
    return stale_age_s("odometry", reason)


def stale_age_s(input_name: str, reason: str) -> float | None:
    """The age of `input_name` in a staleness reason ('<input>: 52.0 ms old (limit 50.0 ms)'), s."""
    import re

    m = re.search(re.escape(input_name) + r": ([0-9.]+) ms old", reason)
    return None if m is None else float(m.group(1)) * 1e-3


def percentile_us(values_s: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values_s), q) * 1e6) if values_s else None
