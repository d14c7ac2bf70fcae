"""How many threads torch computes with during a fit or a prediction (``n_threads``).

torch splits each larger operation of a batch (the matrix products of every recurrent
step, forward and backward) over its intra-op threads (``torch.get_num_threads()``,
one per core by default) and waits at the end of each for the slowest thread. When
another program keeps a core busy, one of those threads is often descheduled, and every
one of the thousands of waits in a batch lasts until the operating system runs it
again, the waiting threads spinning meanwhile: fitting became 5-9x slower on a 2-core
Intel machine beside one or two busy processes, 1.4-2.2x on a 2-core AMD one beside one
(benchmark section u), while one thread lost nothing. On an idle machine the threads can
help (up to 1.5x with large batches on the Intel machine), so neither setting is right
everywhere.

``n_threads='auto'`` therefore watches the machine: on Linux it reads how much CPU time
the other programs took (``/proc/stat`` minus this process's own time) over the last
tenth of a second, every half second of work, and computes with as many threads as
there are cores they leave free (at least one, at most the process's torch setting).
It starts with one thread until the first reading. Elsewhere, where there is no such
reading, it keeps torch's setting. Whatever the mode, the process's own setting is
restored when the fit or the prediction ends; a library does not change it for good.
"""

import contextlib
import numbers
import os
import threading
import time

import torch

__all__ = ["torch_threads", "check_n_threads"]

# A first reading this soon after the start; later ones after this much work, each over
# at least FIRST_WINDOW seconds. /proc/stat counts in ticks of 10 ms per core.
FIRST_WINDOW = 0.1
LATER_WINDOW = 0.5

_ACTIVE = threading.local()


def check_n_threads(n_threads):
    """Validate ``n_threads`` ('auto', None or a non-zero int) and return it.

    Raises
    ------
    ValueError, TypeError
        Naming the accepted values.
    """
    if n_threads is None or (isinstance(n_threads, str) and n_threads == "auto"):
        return n_threads
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be 'auto', None or an int, got {n_threads!r}. Use 'auto' to "
            "follow the machine's load, an int to fix torch's threads during fit and "
            "predict (-1: every core), or None to leave torch's setting as it is."
        )
    if int(n_threads) == 0:
        raise ValueError(
            "n_threads=0 computes with no thread. Use a positive count, a negative one "
            "counted from the number of cores (-1: every core), 'auto' or None."
        )
    return int(n_threads)


def fixed_thread_count(n_threads):
    """The count an int ``n_threads`` asks for: negative ones count back from the cores
    this process may use, as ``n_jobs`` does in scikit-learn (-1: all of them)."""
    if n_threads > 0:
        return n_threads
    return max(1, usable_cores() + 1 + n_threads)


def usable_cores():
    """How many cores this process may run on."""
    return len(_allowed_cpus())


def _allowed_cpus():
    """The indices of the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return range(os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(n_threads):
    """Compute with the threads ``n_threads`` asks for inside the block; restore torch's
    setting after it. Yields an object whose ``update()`` (cheap; call it after each
    batch) lets ``'auto'`` follow the machine's load.

    A block inside another (in the same thread) leaves the outer one in charge and
    yields its object.

    Examples
    --------
    >>> import torch
    >>> from sktorchcw._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1) as threads:
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    outer = getattr(_ACTIVE, "chooser", None)
    if outer is not None or n_threads is None:
        yield outer or _Fixed()
        return
    before = torch.get_num_threads()
    chooser = (_LoadFollower(before) if n_threads == "auto"
               else _Fixed(fixed_thread_count(n_threads)))
    _ACTIVE.chooser = chooser
    try:
        yield chooser
    finally:
        _ACTIVE.chooser = None
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class _Fixed:
    """A fixed thread count (or, without one, torch's setting left alone)."""

    def __init__(self, count=None):
        if count is not None and count != torch.get_num_threads():
            torch.set_num_threads(count)

    def update(self):
        pass


class _LoadFollower:
    """``n_threads='auto'``: as many threads as the other programs leave cores free."""

    def __init__(self, most):
        self.most = most
        self.cpus = _stat_cpus()
        self.reading = _cpu_reading(self.cpus) if self.cpus else None
        if self.reading is None or most <= 1:  # no reading here, or nothing to choose
            self.next_check = float("inf")
            return
        torch.set_num_threads(1)
        self.next_check = self.reading[0] + FIRST_WINDOW

    def update(self):
        now = time.monotonic()
        if now < self.next_check:
            return
        reading = _cpu_reading(self.cpus)
        if reading is None:
            self.next_check = float("inf")
            return
        others = _cores_used_by_others(self.reading, reading)
        self.reading = reading
        self.next_check = now + LATER_WINDOW
        count = threads_for_free_cores(len(self.cpus) - others, self.most)
        if count != torch.get_num_threads():
            torch.set_num_threads(count)


def threads_for_free_cores(free_cores, most):
    """Threads for ``free_cores`` (a measured, fractional number): rounded, at least one,
    at most ``most``.

    Examples
    --------
    >>> threads_for_free_cores(1.05, 2), threads_for_free_cores(1.7, 2)
    (1, 2)
    >>> threads_for_free_cores(0.2, 4), threads_for_free_cores(15.0, 8)
    (1, 8)
    """
    return int(min(most, max(1, round(free_cores))))


def _stat_cpus():
    """The ``cpuN`` names of /proc/stat this process may run on, or None without it."""
    try:
        with open("/proc/stat") as stat:
            names = {line.split()[0] for line in stat if line.startswith("cpu")}
    except OSError:
        return None
    cpus = frozenset(f"cpu{index}" for index in _allowed_cpus()) & names
    return cpus or None


def _cpu_reading(cpus):
    """(monotonic time, busy CPU seconds of ``cpus``, this process's CPU seconds)."""
    try:
        with open("/proc/stat") as stat:
            lines = [line.split() for line in stat if line.startswith("cpu")]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    # user nice system idle iowait irq softirq steal: idle and iowait are free time;
    # steal is time the hypervisor gave to other machines.
    busy = sum(int(fields[1]) + int(fields[2]) + int(fields[3]) + sum(map(int, fields[6:9]))
               for fields in lines if fields[0] in cpus)
    return time.monotonic(), busy / ticks, time.process_time()


def _cores_used_by_others(before, after):
    """How many cores other programs kept busy between two readings, on average."""
    elapsed = after[0] - before[0]
    if elapsed <= 0:
        return 0.0
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others / elapsed)
