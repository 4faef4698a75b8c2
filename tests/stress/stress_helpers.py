"""Helpers for the stress suite: the size switch, RSS and descriptor counts, limits."""

from __future__ import annotations

import os
import resource

#: "small" (make test) or "full" (make stress).
SIZE = "full" if os.environ.get("COROLOOP_STRESS", "") == "full" else "small"
FULL = SIZE == "full"


def size(small, full):
    """The figure for this run's size."""
    return full if FULL else small


def rss_bytes() -> int:
    """Resident set size of this process now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> set[int]:
    """The descriptors open in this process."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def raise_nofile(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards *wanted* (at most the hard limit);
    return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / max(seconds, 1e-9) / 1e6
