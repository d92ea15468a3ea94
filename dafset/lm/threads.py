"""How many CPU threads torch should use: the cores this process can really have, no more.

torch's default (one thread per logical CPU) oversubscribes in two common cases: a container or
``taskset`` that grants fewer cores than the machine has, and a shared machine whose cores are
busy with other work. OpenMP threads wait for each other at every matmul, so one descheduled
thread stalls the rest: on the 2-core development machine, with others' jobs running, one thread
scored 4x faster than two. So the default is

    min(physical cores in our CPU affinity and cgroup quota - cores busy with others, CAP)

and never below 1. "Busy with others" is the 1-minute load average, read before we start any
work (so it is not our own). ``CAP``: an assumption, not measured beyond 2 cores: a batch's
matmuls on a model of hidden size 576-2048 are too small to split across more threads well.
An explicit ``--threads`` or ``OMP_NUM_THREADS`` always wins.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

CAP = 8


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (SMT siblings count once)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus:
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))  # no topology exposed: count each CPU as a core
    return len(cores)


def cgroup_cpus(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """The CPU quota of our cgroup v2 in cores ("200000 100000" -> 2.0), None when unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def default_threads(cap: int = CAP, cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The thread count to use when none is given (see the module's docstring)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = physical_cores()
    quota = cgroup_cpus(cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, min(cores - busy, cap))


def use_threads(threads: int | None) -> int:
    """Set torch's intra-op threads to ``threads`` (None: ``default_threads()``); returns it."""
    import torch

    n = threads if threads is not None else default_threads()
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    log.info("torch CPU threads: %d%s", n, "" if threads is not None else " (default: free physical cores)")
    return n


__all__ = ["cgroup_cpus", "default_threads", "physical_cores", "use_threads"]
