"""What the PX4 tests deliver to the interface: VehicleOdometry and VehicleStatus as PX4 publishes
them, and one runtime cycle published through the interface."""

from __future__ import annotations

import time

import numpy as np

from deploy.runtime.input_store import Command


def deliver_odometry(t, hw, pos_ned=(1.0, 2.0, -3.0), q=(1.0, 0.0, 0.0, 0.0), stamp_us=None, **over) -> int:
    """Deliver a VehicleOdometry (NED/FRD frames, stamped now unless `stamp_us`); returns its stamp (µs)."""
    stamp_us = int(time.time() * 1e6) if stamp_us is None else stamp_us
    fields = dict(
        timestamp=stamp_us, timestamp_sample=stamp_us, pose_frame=1, position=list(pos_ned), q=list(q),
        velocity_frame=1, velocity=[0.5, 0.0, -0.25], angular_velocity=[0.1, 0.2, 0.3],
    )  # fmt: skip
    fields.update(over)
    t.deliver(hw.topics["odometry"], t.make("px4_msgs/msg/VehicleOdometry", **fields))
    return stamp_us


def deliver_status(t, hw, armed: bool, offboard: bool) -> None:
    """Deliver a VehicleStatus: armed or disarmed, in OFFBOARD or in POSCTL."""
    from deploy.px4 import messages

    k = messages.constants("VehicleStatus")
    t.deliver(
        hw.topics["status"],
        t.make(
            "px4_msgs/msg/VehicleStatus",
            arming_state=k["ARMING_STATE_ARMED"] if armed else k["ARMING_STATE_DISARMED"],
            nav_state=k["NAVIGATION_STATE_OFFBOARD"] if offboard else k["NAVIGATION_STATE_POSCTL"],
        ),
    )


def run_cycle(runtime, hw, clock, target_pos_m=(2.0, 1.0, 3.0), dt_s: float = 0.01) -> None:
    """Advance `clock` by `dt_s`, command a hover at `target_pos_m` (ENU), step and publish."""
    clock.t += dt_s
    runtime.put("command", Command(np.array([*target_pos_m, 0.0, 0.0, 0.0])), clock.t, None)
    hw.publish(runtime.step())


def request_offboard_and_arm(t, emu) -> None:
    """Deliver to the PX4 emulator what a companion sends to engage: DO_SET_MODE offboard, then ARM."""
    k = emu.k_cmd
    for name, p1, p2 in (
        ("VEHICLE_CMD_DO_SET_MODE", 1.0, 6.0),
        ("VEHICLE_CMD_COMPONENT_ARM_DISARM", 1.0, 0.0),
    ):
        t.deliver(
            emu.topics["command"],
            t.make("px4_msgs/msg/VehicleCommand", command=k[name], param1=p1, param2=p2, target_system=1,
                   target_component=1),
        )  # fmt: skip
