"""HIL faults on the quadruped: the same six as the quadrotor's (tether/hil/faults.py), injected into
the legged bridge's sensors, and the outcome each must have. On a legged robot the safe response is
damping (the robot sits down), never a fall. Fault times T are seconds of the walk (from the
policy's first cycle).

==========  ==========================================  =================================================
fault       injected by                                 expected outcome (checked from the node reports)
==========  ==========================================  =================================================
drop        bridge: 20 % of joint-state and IMU         the walk still succeeds (no fall, tracking within
            messages withheld, whole run                the task's gate figures)
latency     bridge: 20 ms added to every joint-state    the walk still succeeds
            and IMU message, whole run
freeze@T    bridge: no joint states for 200 ms          policy node enters FAILSAFE on stale joint states
                                                        (older than its limit); no policy cycle ran on
                                                        joint states older than the limit; the hardware
                                                        is sent damping (kp 0); a safe sit-down, no fall
nan@T       bridge: 10 IMU messages with NaN angular    no non-finite joint command is ever published or
            velocity                                    received; the node rejected the NaN messages and
                                                        failed safe on the non-finite input (FAILSAFE:
                                                        damping, kp 0 sent); a safe sit-down, no fall
kill@T      HIL: SIGKILL of the policy process          the bridge's hardware watchdog damps after no more
                                                        than its timeout (+ one physics step) of simulated
                                                        time without commands; a safe sit-down, no fall
estop@T     HIL: publishes true on /tether/estop        the stop command (kp 0, damping) from the first
                                                        cycle after receipt (≤ 1 cycle); no stiff gains
                                                        (kp > 0) reach the hardware afterwards; a safe
                                                        sit-down, no fall
==========  ==========================================  =================================================
"""

from __future__ import annotations

from typing import Any

from tether.hil.faults import ADDED_LATENCY_S, DROP_PROBABILITY, Fault, stale_age_s
from tether.hil.walk import WalkScenario

#: IMU messages with NaN angular velocity (the quadrotor's count). The IMU is one of the walking
#: policy's inputs, so the first one is a fault: FAILSAFE, the robot sits down.
NAN_COUNT = 10
#: Faults after which the walk is not expected to continue (the robot sits down).
DISRUPTIVE = {"freeze", "nan", "kill", "estop"}
#: The legged bridge's freeze: no joint states for this long.
FREEZE_S = 0.2


def bridge_overrides(fault: Fault) -> list[str]:
    """Parameter overrides of the legged bridge that inject `fault` (freeze / nan are started on
    /tether/sim/fault at their walk time, with these settings)."""
    if fault.kind == "drop":
        return [
            f"joint_states.drop_probability={DROP_PROBABILITY}",
            f"imu.drop_probability={DROP_PROBABILITY}",
        ]
    if fault.kind == "latency":
        return [f"joint_states.latency_s={ADDED_LATENCY_S}", f"imu.latency_s={ADDED_LATENCY_S}"]
    if fault.kind == "freeze":
        return [f"faults.freeze_s={FREEZE_S}", "faults.freeze_sensor=joint_states"]
    if fault.kind == "nan":
        return [f"faults.nan_count={NAN_COUNT}", "faults.nan_sensor=imu"]
    return []


def expected(fault: Fault) -> str:
    return {
        "drop": "walk still succeeds",
        "latency": "walk still succeeds",
        "freeze": "FAILSAFE on stale joint states within the limit; damping; safe sit-down, no fall",
        "nan": "no non-finite joint command; NaN messages rejected; FAILSAFE (damping); safe sit-down",
        "kill": "hardware watchdog damps within its timeout; safe sit-down, no fall",
        "estop": "damping from the first cycle after receipt; no stiff gains afterwards; safe sit-down",
    }[fault.kind]


def outcome(
    fault: Fault,
    scenario: WalkScenario,
    walk: dict[str, Any],
    traj: Any,
    bridge: dict[str, Any],
    policy: dict[str, Any] | None,
    events: dict[str, Any],
    bridge_params: dict[str, Any],
) -> dict[str, Any]:
    """Observed outcome of `fault` on the legged robot and whether it met its expectation."""
    out: dict[str, Any] = {"fault": fault.label, "expected": expected(fault)}
    met = False
    obs: dict[str, Any] = {}
    if fault.kind in ("drop", "latency"):
        obs = {
            "walk_success": walk.get("success"),
            "injected_drops": sum(bridge["dropped"].values()),
            "injected_delays": bridge.get("delayed", 0),
        }
        met = bool(walk.get("success")) and (
            obs["injected_drops"] > 0 if fault.kind == "drop" else obs["injected_delays"] > 0
        )
    elif fault.kind == "freeze":
        injected = [f for f in bridge.get("faults_injected", []) if f["fault"] == "freeze"]
        obs["frozen_messages"] = bridge.get("frozen_out", 0)
        obs["injected_sim_s"] = injected[0]["sim_time_s"] if injected else None
        if policy is not None:
            to_failsafe = [
                t
                for t in policy["transitions_all"]
                if t["to"] == "FAILSAFE" and "joint_states" in t["reason"]
            ]
            limit_s = policy["input_max_age_s"].get("joint_states")
            age_s = stale_age_s("joint_states", to_failsafe[0]["reason"]) if to_failsafe else None
            used_s = policy.get("policy_input_age_max_s", {}).get("joint_states")
            obs.update({
                "failsafe_transition": to_failsafe[0] if to_failsafe else None,
                "staleness_limit_s": limit_s,
                "joint_states_age_at_failsafe_s": age_s,
                "oldest_joint_states_the_policy_ran_on_s": used_s,
            })  # fmt: skip
            sit = scenario.sit_down(traj, obs["injected_sim_s"]) if injected else {"safe": False}
            obs["sit_down"] = sit
            obs["damping_sent"] = _damping_after(bridge, injected[0]["mono_s"]) if injected else False
            met = bool(
                to_failsafe and age_s is not None and limit_s is not None and age_s >= limit_s
                and used_s is not None and used_s <= limit_s and obs["frozen_messages"] > 0
                and obs["damping_sent"] and sit["safe"]
            )  # fmt: skip
    elif fault.kind == "nan":
        rejected = None
        if policy is not None:
            rejected = policy["diagnostics"]["inputs"].get("imu", {}).get("rejected")
        injected = [f for f in bridge.get("faults_injected", []) if f["fault"] == "nan"]
        to_failsafe = [] if policy is None else [
            t for t in policy["transitions_all"]
            if t["to"] == "FAILSAFE" and "nonfinite_input" in t["reason"] and "imu" in t["reason"]
        ]  # fmt: skip
        sit = scenario.sit_down(traj, injected[0]["sim_time_s"]) if injected else {"safe": False}
        obs = {
            "nonfinite_commands_received": bridge["nonfinite_commands"],
            "nonfinite_suppressed_in_node": None if policy is None else policy["nonfinite_suppressed"],
            "nan_messages_sent": bridge["nan_sent"],
            "imu_messages_rejected": rejected,
            "failsafe_transition": to_failsafe[0] if to_failsafe else None,
            "damping_sent": _damping_after(bridge, injected[0]["mono_s"]) if injected else False,
            "sit_down": sit,
        }
        met = bool(
            bridge["nonfinite_commands"] == 0
            and policy is not None
            and policy["nonfinite_suppressed"] == 0
            and bridge["nan_sent"] > 0
            and (rejected or 0) > 0
            and to_failsafe
            and obs["damping_sent"]
            and sit["safe"]
        )
    elif fault.kind == "kill":
        wd = bridge.get("watchdog")
        timeout_s = float(bridge_params["watchdog"]["timeout_s"])
        sim_dt_s = 1.0 / float(bridge_params["sim_rate_hz"])
        obs = {"watchdog": wd, "killed_at_mono_s": events.get("kill_mono_s")}
        if wd is not None:
            silent_s = wd["steps_since_last_command"] * sim_dt_s
            obs["silent_sim_s_at_trip"] = silent_s
            obs["kill_to_watchdog_ms"] = (
                None if events.get("kill_mono_s") is None else (wd["mono_s"] - events["kill_mono_s"]) * 1e3
            )
            sit = scenario.sit_down(traj, float(wd["sim_time_s"]))
            obs["sit_down"] = sit
            met = bool(silent_s <= timeout_s + sim_dt_s + 1e-9 and sit["safe"])
    elif fault.kind == "estop":
        if policy is not None:
            rx, first = policy.get("estop_rx_cycle"), policy.get("estop_first_stop_cycle")
            cycles = None if rx is None or first is None else first - rx
            sent = events.get("estop_mono_s")
            after = [m for m in bridge["modes"] if sent is not None and m["mono_s"] >= sent]
            first_damp = next((m for m in after if m["mode"] == "damping"), None)
            stiff_later = bool(
                first_damp is not None
                and any(m["mode"] == "stiff" and m["mono_s"] > first_damp["mono_s"] for m in after)
            )
            sit = scenario.sit_down(traj, first_damp["sim_time_s"]) if first_damp else {"safe": False}
            obs = {
                "estop_rx_cycle": rx, "first_stop_cycle": first, "cycles_to_stop": cycles,
                "damping_ms_after_estop": None if first_damp is None else (first_damp["mono_s"] - sent) * 1e3,
                "stiff_gains_after_stop": stiff_later, "sit_down": sit,
            }  # fmt: skip
            met = bool(
                cycles is not None
                and cycles <= 1
                and first_damp is not None
                and not stiff_later
                and sit["safe"]
            )
    else:  # pragma: no cover - Fault.parse admits only the six kinds
        raise ValueError(fault.kind)
    out["observed"] = obs
    out["met"] = bool(met)
    return out


def _damping_after(bridge: dict[str, Any], mono_s: float) -> bool:
    return any(m["mode"] == "damping" and m["mono_s"] >= mono_s for m in bridge["modes"])
