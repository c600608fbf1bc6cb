"""The C per-stop loop (hotloop.c), built at install time and loaded with ctypes.

``TRACEBENCH_LOOP`` chooses the loop (see tracebench.extensions): the C loop
or the pure-Python one.  Both count the same stops the same way; the tests
run the oracle programs through both.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any

from tracebench import extensions
from tracebench.errors import TraceError

# What tb_run_full / tb_run_fast return (hotloop.c).
OTHER, UNKNOWN, NEW_COUNTER, NEW_ARGS, WAIT_ERROR, TICK = 1, 2, 3, 4, 5, 6


def library_path() -> Path | None:
    """Where the built C loop is, or None when it was not built."""
    return extensions.library_path(__file__, "_hotloop")


def wanted() -> bool:
    """Whether the recorder should use the C loop (``TRACEBENCH_LOOP``)."""
    return extensions.wanted("TRACEBENCH_LOOP", library_path(), "the C loop", TraceError)


@functools.cache
def _load() -> Any:
    """The library, with the argument types of its functions set."""
    path = library_path()
    if path is None:  # wanted() said so first
        raise TraceError("the C loop was not built")
    lib = ctypes.CDLL(str(path), use_errno=True)
    vp, i32, u64, u8 = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint8
    for name, args, res in (
            ("tb_new", [vp, vp, i32, i32], vp),
            ("tb_free", [vp], None),
            ("tb_task_set", [vp, i32, i32], i32),
            ("tb_task_del", [vp, i32], None),
            ("tb_task_inflight", [vp, i32], i32),
            ("tb_task_inflight_set", [vp, i32, i32], None),
            ("tb_task_move", [vp, i32, i32], i32),
            ("tb_counter_add", [vp, i32, u64, i32, u8], i32),
            ("tb_counter_mask", [vp, i32, u8], None),
            ("tb_counter_get", [vp, i32, vp], None),
            ("tb_counter_add_entered", [vp, i32, ctypes.c_int64], None),
            ("tb_entry", [vp, i32, i32, i32], None),
            ("tb_adapt_feed", [vp, ctypes.c_int64, vp], None),
            ("tb_spin_missed", [vp, ctypes.c_int64], ctypes.c_int64),
            ("tb_run_full", [vp], i32),
            ("tb_run_fast", [vp], i32)):
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


class Loop:
    """One C loop state: the tasks and counters it counts into, and its event.

    ``info`` is the caller's ``struct ptrace_syscall_info`` buffer (the C loop
    fills it at every stop); ``event`` holds what the last run handed back:
    ``[pid, wait status, errno or counter]``.  ``poll`` and ``spin_us``: the
    wait4 flags of the polls made before sleeping in wait4, and for how many
    microseconds at most to poll.
    """

    def __init__(self, info: ctypes.Structure, poll: int, spin_us: int) -> None:
        self.lib = _load()
        self.event = (ctypes.c_int64 * 3)()
        self.state = self.lib.tb_new(ctypes.addressof(info), ctypes.addressof(self.event), poll,
                                      spin_us)
        if not self.state:
            raise MemoryError("tb_new")
        self._counts = (ctypes.c_int64 * 4)()

    def close(self) -> None:
        if self.state:
            self.lib.tb_free(self.state)
            self.state = None

    def _check(self, rc: int) -> None:
        if rc < 0:
            raise MemoryError("the C loop's tables")

    def task_set(self, tid: int, epoch: int) -> None:
        self._check(self.lib.tb_task_set(self.state, tid, epoch))

    def task_del(self, tid: int) -> None:
        self.lib.tb_task_del(self.state, tid)

    def task_inflight(self, tid: int) -> int:
        return int(self.lib.tb_task_inflight(self.state, tid))

    def task_inflight_set(self, tid: int, cid: int) -> None:
        self.lib.tb_task_inflight_set(self.state, tid, cid)

    def task_move(self, old: int, new: int) -> None:
        self.lib.tb_task_move(self.state, old, new)

    def counter_add(self, epoch: int, key: int, cid: int, mask: int) -> None:
        self._check(self.lib.tb_counter_add(self.state, epoch, key, cid, mask))

    def counter_mask(self, cid: int, mask: int) -> None:
        self.lib.tb_counter_mask(self.state, cid, mask)

    def counter_add_entered(self, cid: int, n: int) -> None:
        self.lib.tb_counter_add_entered(self.state, cid, n)

    def counter(self, cid: int) -> tuple[int, int, int, int]:
        """(entered, errors, microseconds, returned) of counter ``cid``."""
        self.lib.tb_counter_get(self.state, cid, self._counts)
        c = self._counts
        return int(c[0]), int(c[1]), int(c[2]), int(c[3])

    def entry(self, tid: int, cid: int, timed: bool) -> None:
        self.lib.tb_entry(self.state, tid, cid, int(timed))

    def polling(self, took_ns: int = -1) -> tuple[int, int, int, int, int]:
        """The adaptive polling's state (hotloop.c, struct tb_adapt).

        (polling now, trials, changes, windows until the next trial, stage);
        with ``took_ns``, first end a window as if it had taken that long.
        """
        out = (ctypes.c_int64 * 5)()
        self.lib.tb_adapt_feed(self.state, took_ns, out)
        return int(out[0]), int(out[1]), int(out[2]), int(out[3]), int(out[4])

    def spin_missed(self, waited_ns: int) -> int:
        """How long the next polls will last (ns) after polls that missed a stop
        which came ``waited_ns`` after they began (hotloop.c, spin_missed)."""
        return int(self.lib.tb_spin_missed(self.state, waited_ns))

    def runner(self, full: bool) -> Any:
        """The run function (no argument conversion at every call: it is hot)."""
        fn = self.lib.tb_run_full if full else self.lib.tb_run_fast
        state = ctypes.c_void_p(self.state)
        return lambda: fn(state)
