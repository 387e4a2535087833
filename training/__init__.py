"""Training: simulation environments, learners, evaluation and export of policies."""

import deploy  # noqa: F401  (turns ONNX Runtime's telemetry off before anything here imports it)
