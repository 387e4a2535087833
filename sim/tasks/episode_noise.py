"""Observation noise that belongs to the episode, not to the batch.

Episode k of a seed draws its noise from its own stream, keyed by (seed, k), so the
episode flies the same whether it runs alone, in a batch of 20 or among 4096 training
environments, and whether its neighbours finish early or not. Each step consumes one
row of `width` standard normals per environment (the builder splits it among the
noisy observation terms in contract order).

Draws are buffered per environment, `chunk_steps` rows at a time: numpy's Generator
fills a (chunk, width) array in the same order as consecutive single draws, so the
numbers an episode sees do not depend on the chunk size either.
"""

from __future__ import annotations

import numpy as np

#: Third word of the stream key: keeps the noise stream apart from the episode's other
#: draws (vehicle, start, disturbance), which use the key (seed, k).
NOISE_STREAM_KEY = 0x5EED


class EpisodeNoise:
    """Per-environment standard-normal streams, restarted at each episode."""

    def __init__(self, num_envs: int, width: int, chunk_steps: int = 64) -> None:
        if num_envs <= 0 or width < 0 or chunk_steps <= 0:
            raise ValueError(
                f"EpisodeNoise needs num_envs > 0, width ≥ 0 and chunk_steps > 0; "
                f"found {num_envs}, {width}, {chunk_steps}"
            )
        self.num_envs = num_envs
        self.width = width
        self.chunk_steps = chunk_steps
        self._streams: list[np.random.Generator | None] = [None] * num_envs
        self._buffer = np.zeros((num_envs, chunk_steps, width))
        self._next_row = np.full(num_envs, chunk_steps, dtype=np.int64)

    @staticmethod
    def stream(seed: int, episode_index: int) -> np.random.Generator:
        """The noise stream of episode `episode_index` of `seed`."""
        return np.random.default_rng([int(seed), int(episode_index), NOISE_STREAM_KEY])

    def start(self, env_ids: np.ndarray, seed: int, episode_indices: np.ndarray) -> None:
        """Environments `env_ids` begin episodes `episode_indices` of `seed`."""
        for i, k in zip(np.asarray(env_ids), np.asarray(episode_indices), strict=True):
            self._streams[int(i)] = self.stream(seed, int(k))
            self._next_row[int(i)] = self.chunk_steps  # refilled on the first draw

    def standard_normal(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), width): the next step's noise of each environment in `rows`."""
        rows = np.asarray(rows, dtype=np.int64)
        for i in rows[self._next_row[rows] >= self.chunk_steps]:
            stream = self._streams[int(i)]
            if stream is None:
                raise RuntimeError(f"environment {int(i)} draws noise before any episode started")
            self._buffer[i] = stream.standard_normal((self.chunk_steps, self.width))
            self._next_row[i] = 0
        out = self._buffer[rows, self._next_row[rows]]
        self._next_row[rows] += 1
        return out
