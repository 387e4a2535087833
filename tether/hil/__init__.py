"""Hardware-in-the-loop: the simulator bridge and the policy node as separate processes over DDS.

- scenario   the flight (hover episode as `tether eval` flies it, then waypoints) and its reference
- faults     what can be injected, how, and the outcome each must have
- processes  starting node processes and always cleaning them up
- recorder   rosbag2 MCAP recording of every topic
- run        `tether hil`: start, arm, fly, disarm, stop, measure
"""
