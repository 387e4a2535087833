"""Unitree Go2 low-level interface: `rt/lowstate` in, `rt/lowcmd` out, over plain DDS.

- messages   unitree_go LowCmd_ / LowState_ / SportModeState_ as the official SDK defines them,
             registered in the transport's type store (no second DDS stack)
- crc        the CRC32 the robot checks on LowCmd_ (and sets on LowState_)
- interface  LowState_ → the runtime's inputs, the runtime's output → LowCmd_ (policy node side)
- emulator   the robot's side of the protocol, for the simulator bridge (HIL)
"""
