"""Record topics into a rosbag2 MCAP file (readable by rosbags, `ros2 bag`, Foxglove, PlotJuggler).

Messages are kept as the CDR bytes that went over DDS (re-serialized by Cyclone, byte-identical
to ROS 2's) with their receive time, and written at the end with rosbags' rosbag2 writer, which
also stores each type's definition and RIHS01 hash so readers need no ROS installation.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from deploy.transport import messages
from deploy.transport.base import Transport
from deploy.transport.names import TopicSpec


class Recorder:
    def __init__(self, transport: Transport, topics: list[TopicSpec]) -> None:
        self.topics = topics
        self._lock = threading.Lock()
        self._rows: list[tuple[str, int, bytes]] = []
        for spec in topics:
            transport.subscribe(spec.name, spec.type, spec.qos, self._callback(spec.name))

    def _callback(self, topic: str) -> Any:
        def on_message(msg: Any) -> None:
            data = bytes(messages.serialize(msg))
            with self._lock:
                self._rows.append((topic, time.time_ns(), data))

        return on_message

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def write(self, path: str | Path) -> dict[str, int]:
        """Write the MCAP file at `path` (a single .mcap file); returns messages per topic."""
        from rosbags.rosbag2 import StoragePlugin, Writer

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = messages.typestore()
        counts: dict[str, int] = {}
        with self._lock:
            rows = sorted(self._rows, key=lambda r: r[1])
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            bag = Path(tmp) / path.stem
            with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
                conns = {
                    spec.name: writer.add_connection(
                        spec.name, spec.type, typestore=store, rihs01=messages.type_hash(spec.type)
                    )
                    for spec in self.topics
                }
                for topic, stamp_ns, data in rows:
                    writer.write(conns[topic], stamp_ns, data)
                    counts[topic] = counts.get(topic, 0) + 1
            files = list(bag.glob("*.mcap"))
            if len(files) != 1:
                raise RuntimeError(f"expected one MCAP file in {bag}, found {[f.name for f in files]}")
            shutil.move(str(files[0]), path)
        return counts
