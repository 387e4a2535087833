"""The robot-side runtime: contract-checked policy, fixed-rate loop, safety supervisor. No ROS here.

One idea per module:

- robot_profile   what a robot offers (names, rate, sensors, limits), checked against a contract
- config          runtime.yaml: input staleness limits, stamp rules, safety thresholds, loop options,
                  the inference engine
- input_store     the newest value of each asynchronous input, with its age and validity
- stamps          judging a message by its own stamp: too old, backwards, from the future
- state_assembly  newest inputs → the RobotState the observation functions read
- policy_runner   the ONNX policy validated for a robot, with preallocated inference
- compiled_policy the policy as C compiled at start-up, checked against ONNX Runtime (inference.engine)
- fast_observation the batch-of-one observation on plain floats, equal to the shared builder
- safety          states, faults and the one transition table
- limits          tilt / geofence / joint-limit checks
- startup         STARTING: idle + spin-up, or interpolation to the default pose
- failsafe        FAILSAFE: PID hold + land, or damping; the stop command
- command_limiter finite, clipped, rate-limited commands
- rt_loop         absolute-deadline or sensor-triggered loop (timer as watchdog), timing statistics,
                  real-time options
- stage_times     where a cycle's time goes, stage by stage (tether bench loop)
- runtime         one control cycle tying these together

Needs numpy, onnxruntime, onnx and PyYAML only (and a C compiler for the compiled inference engine,
which falls back to ONNX Runtime without one); never imports sim/ or training/. (Verifying a policy's
signature, deploy/provenance.py, needs `cryptography`.)
"""

from deploy.runtime.config import InferenceOptions, InputSpec, LoopOptions, RuntimeConfig
from deploy.runtime.input_store import Command, Imu, InputStore, JointStates, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import RobotProfile, check_profile
from deploy.runtime.rt_loop import CycleInfo, LoopStatsSnapshot, RealtimeLoop
from deploy.runtime.runtime import ArmingRefusedError, Runtime, RuntimeOutput
from deploy.runtime.safety import TRANSITIONS, Event, Fault, FaultReport, State

__all__ = [
    "TRANSITIONS",
    "ArmingRefusedError",
    "Command",
    "CycleInfo",
    "Event",
    "Fault",
    "FaultReport",
    "Imu",
    "InferenceOptions",
    "InputSpec",
    "InputStore",
    "JointStates",
    "LoopOptions",
    "LoopStatsSnapshot",
    "Odometry",
    "PolicyRunner",
    "RealtimeLoop",
    "RobotProfile",
    "Runtime",
    "RuntimeConfig",
    "RuntimeOutput",
    "State",
    "check_profile",
]
