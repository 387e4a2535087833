"""PX4 over uXRCE-DDS (px4_msgs on /fmu/in, /fmu/out): the hardware interface and its emulator.

- frames     PX4's NED / FRD ↔ Tether's ENU / FLU, the one place they convert
- messages   px4_msgs types registered from the px4_msgs package's .msg files (not shipped here)
- motors     Tether's motors by name and position ↔ PX4's motor order (ActuatorMotors)
- interface  VehicleOdometry / VehicleStatus → the runtime; the runtime's output → offboard
             heartbeat, VehicleCommand (mode, arming), and ActuatorMotors (motor-level policies) or
             VehicleRatesSetpoint (collective thrust + body rate policies), by the contract's
             action_mode (policy node side)
- emulator   PX4's offboard rules (heartbeat, mode switch, loss timeout), for the simulator bridge
"""
