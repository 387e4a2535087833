"""DDS domain ids leased per run, so concurrent HIL runs (or test sessions) on one machine never
share a domain and exchange each other's odometry and commands.

A lease is an exclusive advisory lock (flock) on a file per domain id in the machine's temporary
directory: the kernel releases it when the holder exits, even on SIGKILL, so a crashed run never
leaves a domain blocked. The lock file records the holder's pid for the error message.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

#: Domains Tether's HIL runs use when none is given (ROS 2's default ROS_DOMAIN_ID is 0).
FIRST_DOMAIN, LAST_DOMAIN = 100, 199
#: DDS domain ids are 0..232 (the UDP port formula leaves no room above).
MAX_DOMAIN = 232


class DomainInUseError(RuntimeError):
    """The requested domain is leased by another run on this machine."""


class DomainLease:
    """Context manager holding one domain id for this process (`lease.domain_id`)."""

    def __init__(self, domain_id: int | None = None, lock_dir: str | Path | None = None) -> None:
        if domain_id is not None and not 0 <= domain_id <= MAX_DOMAIN:
            raise ValueError(f"DDS domain id must be in 0..{MAX_DOMAIN}, found {domain_id}")
        self.requested = domain_id
        self.lock_dir = Path(lock_dir) if lock_dir is not None else Path(tempfile.gettempdir())
        self.domain_id: int | None = None
        self._file: IO[str] | None = None

    def _try(self, domain: int) -> bool:
        path = self.lock_dir / f"tether-dds-domain-{domain}.lock"
        f = open(path, "a+")  # noqa: SIM115 - held open for the lease's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file, self.domain_id = f, domain
        return True

    def acquire(self) -> int:
        if self.requested is not None:
            if not self._try(self.requested):
                holder = (self.lock_dir / f"tether-dds-domain-{self.requested}.lock").read_text().strip()
                raise DomainInUseError(
                    f"DDS domain {self.requested} is in use by another Tether run on this machine "
                    f"(pid {holder or 'unknown'}); pick another --domain-id or leave it out to get a free one"
                )
            return self.requested
        span = LAST_DOMAIN - FIRST_DOMAIN + 1
        start = os.getpid() % span  # spread concurrent processes over the range
        for k in range(span):
            if self._try(FIRST_DOMAIN + (start + k) % span):
                assert self.domain_id is not None
                return self.domain_id
        raise DomainInUseError(
            f"every DDS domain in {FIRST_DOMAIN}..{LAST_DOMAIN} is leased by other Tether runs on this "
            "machine; wait for some to finish"
        )

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> DomainLease:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
