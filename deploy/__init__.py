"""Tether's robot side: the runtime, the nodes, the transports and the hardware interfaces."""

import os

# ONNX Runtime (1.29 and later, on Linux) starts a telemetry uploader when it is imported: a thread
# that retries uploads to the network, keeps a device id and an SQLite cache under ~/.cache, and
# now and then starts short-lived threads that write that cache. In a control process every thread
# runs SCHED_FIFO, so those threads held cycles up by milliseconds (`tether bench soak`: cycles
# ended 2-12 ms late a few seconds into a run). A robot's control process must not phone home
# either. Set here, before any module of this package imports onnxruntime (it reads the variable
# once, at import); an explicit setting in the environment is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
