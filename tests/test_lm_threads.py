"""The default torch thread count: the physical cores this process can have, minus busy ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from dafset.lm import threads


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A machine with ``cores`` physical cores, a load average and a cgroup quota file."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")

    def set_machine(cores: int, load: float, cgroup: str = "max 100000") -> int:
        monkeypatch.setattr(threads, "physical_cores", lambda: cores)
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
        quota.write_text(cgroup + "\n")
        return threads.default_threads(cgroup=quota)

    return set_machine


def test_an_idle_machine_gets_its_physical_cores_up_to_the_cap(machine) -> None:
    assert machine(cores=2, load=0.1) == 2
    assert machine(cores=64, load=0.0) == threads.CAP


def test_cores_busy_with_others_are_left_to_them_but_one_thread_remains(machine) -> None:
    assert machine(cores=2, load=1.2) == 1
    assert machine(cores=2, load=10.3) == 1
    assert machine(cores=16, load=10.0) == 6


def test_a_cgroup_quota_bounds_the_cores(machine) -> None:
    assert machine(cores=32, load=0.0, cgroup="300000 100000") == 3
    assert machine(cores=32, load=0.0, cgroup="50000 100000") == 1


def test_omp_num_threads_wins(machine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert machine(cores=2, load=5.0) == 3


def test_physical_cores_counts_smt_siblings_once() -> None:
    cores = threads.physical_cores()
    assert 1 <= cores <= len(threads.os.sched_getaffinity(0))


def test_use_threads_sets_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        assert threads.use_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads must be >= 1"):
            threads.use_threads(0)
    finally:
        torch.set_num_threads(before)
