"""`tether hil --vehicle px4`: the hover scenario through PX4's uXRCE-DDS protocol.

The policy node loads the PX4 interface (deploy/px4/interface.py) and the simulator bridge
emulates PX4 (deploy/px4/emulator.py), both from launch/config/quadrotor_px4_sim.yaml; the
operator, the flight, the scoring and the fault suite are the hover scenario's (tether/hil/run.py).
What differs per fault, because PX4 has one sensor message (VehicleOdometry) and its own watchdog:

- nan@T: the NaN burst goes into VehicleOdometry (position); the runtime takes a non-finite
  odometry as a fault (FAILSAFE: it lands), so the flight does not go on after it;
- kill@T: the bridge's watchdog is PX4's offboard loss (no heartbeat for COM_OF_LOSS_T), which
  then holds (COM_FAIL_ACT_T) and lands with the bridge's onboard PID;
- estop@T: the policy node sends NaN (stopped) to every motor and a disarm command, which PX4
  refuses in the air and accepts once the vehicle is on the ground.

`checks` adds what only a PX4 run shows: the order in which the emulated PX4 saw the mode switch,
the arming and the first applied motor command, and that no motor command was applied outside
armed + OFFBOARD.
"""

from __future__ import annotations

from typing import Any

from tether.hil.faults import Fault

PARAMS_FILE = "launch/config/quadrotor_px4_sim.yaml"
#: The policy node's profile for a collective thrust + body rate (ctbr) policy: VehicleRatesSetpoint
#: instead of ActuatorMotors; chosen from the policy's contract.
CTBR_PROFILE = "deploy/runtime/profile_crazyflie_2_1_px4_ctbr.yaml"


def fault_overrides(fault: Fault) -> list[str]:
    """Simulator-bridge overrides that adapt `fault` to PX4 (applied after its own)."""
    if fault.kind == "nan":
        return ["faults.nan_sensor=odometry"]
    return []


def checks(bridge: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
    """The PX4 protocol as the emulator saw it, from the node reports."""
    emu = bridge.get("px4") or {}
    events = emu.get("events", [])
    first = {}
    for e in events:
        key = e["event"] if e["event"] != "nav_state" else e["detail"].split(" ")[0]
        first.setdefault(key, e["t_s"])
    t_offboard = first.get("NAVIGATION_STATE_OFFBOARD")
    t_armed = first.get("armed")
    itf = (policy or {}).get("hardware") or {}
    counts = emu.get("counts", {})
    ignored = emu.get("motors_ignored", {})
    order_ok = t_offboard is not None and t_armed is not None and t_offboard <= t_armed
    return {
        "engaged_offboard_t_s": t_offboard,
        "armed_t_s": t_armed,
        "offboard_before_arm": order_ok,
        "commands_refused": emu.get("commands_refused", {}),
        "motors_applied": counts.get("actuator_motors_applied"),
        "motors_ignored": ignored,
        "rates_applied": counts.get("vehicle_rates_setpoint_applied"),
        "rates_ignored": emu.get("rates_ignored", {}),
        "heartbeats_received": counts.get("heartbeat_rx"),
        "failsafe": emu.get("failsafe"),
        "interface": {
            "sent": itf.get("sent"),
            "motors_withheld": itf.get("motors_withheld"),
            "refused": itf.get("refused"),
            "faults": itf.get("faults"),
        },
        "events": events[:40],
        "met": bool(
            order_ok
            and counts.get("actuator_motors_applied", 0) + counts.get("vehicle_rates_setpoint_applied", 0) > 0
        ),
    }
