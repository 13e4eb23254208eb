# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""The scheduler's per-command hot path (compiled twin of ``lanecore._dispatch_py``).

The Dispatcher makes handles and queues them, hands dispatchable commands to idle runners
(or has the manager spawn one), and is the runner loop itself: pull the next command from the
lane table, run it inline, resolve its handle, repeat. It calls the lane table through its C
entry points and reads the handle's and lane record's ``__slots__`` by offset; everything
rare (failures, retries, lane hooks, rate-limit timers, drain waiters) goes back to the
manager, as in the twin.
"""

import asyncio
import os
from asyncio import CancelledError

cimport cython
from cpython.dict cimport PyDict_DelItem, PyDict_SetItem
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.method cimport PyMethod_Check, PyMethod_GET_FUNCTION, PyMethod_GET_SELF
from libc.math cimport log2
from cpython.object cimport PyObject

from lanecore_pyx._clock cimport lanecore_monotonic
from lanecore_pyx._eventclock cimport (
    EVENT_CLOCK_CAN_USE_TSC,
    lanecore_event_clock,
    lanecore_event_clock_enable,
    lanecore_event_clock_uses_tsc,
)
from lanecore_pyx._eventring cimport EventRing, ring_record
from lanecore_pyx._lanetable cimport LaneTable
from lanecore_pyx._slots cimport slot_get, slot_offset, slot_ptr, slot_set, steal_ref

from lanecore import events
from lanecore.commands import to_runner
from lanecore.errors import CommandTimeout
from lanecore.metrics import histogram

cdef extern from *:
    """
    /* type(**kwargs) for a type whose construction is its own tp_new + tp_init, with a
       kwargs dict made once by the caller instead of one per call. */
    static PyObject* lanecore_new_instance(PyObject* type, PyObject* kwargs) {
        static PyObject* no_args = NULL;
        PyTypeObject* t = (PyTypeObject*)type;
        PyObject* obj;
        if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL) return NULL;
        obj = t->tp_new(t, no_args, kwargs);
        if (obj != NULL && t->tp_init != NULL && t->tp_init(obj, no_args, kwargs) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
        return obj;
    }
    """
    object new_instance "lanecore_new_instance"(object type, object kwargs)

cdef extern from *:
    """
    /* The first step of a fresh native coroutine, via am_send: 0 with its return value in
       *out, 1 with what it yielded in *out (it suspended), -1 with its exception set. */
    static int lanecore_coro_first_step(PyObject* coro, PyObject** out) {
        PySendResult r = PyIter_Send(coro, Py_None, out);
        return r == PYGEN_RETURN ? 0 : (r == PYGEN_NEXT ? 1 : -1);
    }
    """
    int coro_first_step "lanecore_coro_first_step"(object coro, PyObject** out) except -1
    bint PyCoro_CheckExact(object o)

cdef extern from "Python.h":
    ctypedef struct PyCodeObject:
        int co_flags
    bint PyFunction_Check(object o)
    PyObject* PyFunction_GET_CODE(object o)
    int CO_COROUTINE

# A runner that keeps finding commands which finish without suspending yields to the loop
# after this many, so other tasks and I/O are never starved by a burst of quick commands.
YIELD_EVERY = 256
cdef Py_ssize_t _YIELD_EVERY = YIELD_EVERY

cdef int SUBMITTED = events.SUBMITTED_KIND
cdef int STARTED = events.STARTED_KIND
cdef int COMPLETED = events.COMPLETED_KIND


def _event_clock_setting():
    """LANECORE_EVENT_CLOCK: "auto" (the default: the CPU's time-stamp counter where the
    kernel keeps time with it) or "system" (read the system clock for every stamp)."""
    setting = os.environ.get("LANECORE_EVENT_CLOCK", "auto")
    if setting not in ("auto", "system"):
        raise ValueError(f"LANECORE_EVENT_CLOCK must be 'auto' or 'system', got {setting!r}")
    return setting


def _kernel_clocksource():
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            return f.read().strip()
    except OSError:
        return ""


if EVENT_CLOCK_CAN_USE_TSC and _event_clock_setting() == "auto" and _kernel_clocksource() == "tsc":
    lanecore_event_clock_enable()


def event_clock():
    """Now, on the clock that stamps command events (time.time()'s clock; see _eventclock)."""
    return lanecore_event_clock()


def event_clock_source():
    """What the event clock reads: "tsc" once it measured the counter's rate, else "system"."""
    return "tsc" if lanecore_event_clock_uses_tsc() else "system"


cdef inline bint is_coroutine_function(object command) noexcept:
    return PyFunction_Check(command) and (
        (<PyCodeObject*>PyFunction_GET_CODE(command)).co_flags & CO_COROUTINE
    )


cdef object HISTOGRAM_RECORD = histogram.Histogram.record
cdef double HISTOGRAM_LOWEST = histogram.LOWEST_MS
cdef double HISTOGRAM_HIGHEST = histogram.HIGHEST_MS
cdef double HISTOGRAM_SUB_BUCKETS = histogram.SUB_BUCKETS
cdef double HISTOGRAM_OFFSET = histogram._OFFSET
cdef Py_ssize_t o_hist_buckets = slot_offset(histogram.Histogram, "_buckets")
cdef Py_ssize_t o_hist_sum = slot_offset(histogram.Histogram, "sum")
cdef Py_ssize_t o_hist_min = slot_offset(histogram.Histogram, "min")
cdef Py_ssize_t o_hist_max = slot_offset(histogram.Histogram, "max")


cdef void record_sample(object record, double ms) except *:
    """``record(ms)`` for a sampled command's wait or run time. When ``record`` is the
    ``record`` method of a lanecore Histogram (LocalMetrics) and ``ms`` is in its tracked
    range, its body runs here instead, with the same arithmetic (so the same bucket, sum, min
    and max): a sample then costs no Python frame."""
    cdef Py_ssize_t i
    if (
        PyMethod_Check(record)
        and <object>PyMethod_GET_FUNCTION(record) is HISTOGRAM_RECORD
        and HISTOGRAM_LOWEST <= ms < HISTOGRAM_HIGHEST
    ):
        hist = <object>PyMethod_GET_SELF(record)
        buckets = slot_get(hist, o_hist_buckets)
        i = <Py_ssize_t>(log2(ms) * HISTOGRAM_SUB_BUCKETS + HISTOGRAM_OFFSET)
        if PyList_CheckExact(buckets) and 0 <= i < PyList_GET_SIZE(buckets):
            (<list>buckets)[i] = <object>PyList_GET_ITEM(buckets, i) + 1
            value = ms
            slot_set(hist, o_hist_sum, slot_get(hist, o_hist_sum) + value)
            if value < slot_get(hist, o_hist_min):
                slot_set(hist, o_hist_min, value)
            if value > slot_get(hist, o_hist_max):
                slot_set(hist, o_hist_max, value)
            return
    record(ms)


def _record_sample(record, double ms):
    """record_sample, for the tests."""
    record_sample(record, ms)


cdef class Dispatcher:
    """The hot path of one manager; state the manager shares is passed in, not copied."""

    def __init__(self, manager, LaneTable table, type handle_type):
        self.manager = manager
        self.table = table
        self.handle_type = handle_type
        self.inflight = manager._inflight
        self.idle = manager._idle
        self.listeners = manager._listeners
        self.drain_waiters = manager._drain_waiters
        self.rings = manager._events.rings
        self.filtered = manager._events.filtered
        self.emit_filtered = manager._events.emit_filtered
        self.loop = None
        self.started = False
        self.closed = False
        self.rate_limited = False
        self._next_id = 1
        self.recorder = None
        self.sample_every = 0
        self.sample_count = 0
        self.o_command_id = slot_offset(handle_type, "command_id")
        self.o_command = slot_offset(handle_type, "_command")
        self.o_run = slot_offset(handle_type, "_run")
        self.o_lane = slot_offset(handle_type, "_lane")
        self.o_manager = slot_offset(handle_type, "_manager")
        self.o_ticket = slot_offset(handle_type, "_ticket")
        self.o_timeout = slot_offset(handle_type, "_timeout")
        self.o_failures = slot_offset(handle_type, "_failures")
        self.o_runner = slot_offset(handle_type, "_runner")
        self.o_timer = slot_offset(handle_type, "_timer")
        self.o_submitted_at = slot_offset(handle_type, "_submitted_at")
        self.o_queued_at = slot_offset(handle_type, "_queued_at")
        lane_type = type(next(iter(manager._lanes.values())))
        self.o_index = slot_offset(lane_type, "index")
        self.o_lane_id = slot_offset(lane_type, "lane_id")
        self.o_hooks = slot_offset(lane_type, "hooks")
        self.o_boost = slot_offset(lane_type, "boost")

    @property
    def loop(self):
        """The event loop the manager is bound to (None until it is)."""
        return self._loop

    @loop.setter
    def loop(self, loop):
        self._loop = loop
        self._handle_kwargs = {"loop": loop}

    @property
    def next_id(self):
        """The command id the next auto-numbered command gets."""
        return self._next_id

    cdef object _queue(self, object ls, object command, object run, object timeout,
                       object command_id, object now):
        if command_id is None:
            command_id = self._next_id
            self._next_id += 1
        handle = new_instance(self.handle_type, self._handle_kwargs)  # handle_type(loop=...)
        slot_set(handle, self.o_command_id, command_id)
        slot_set(handle, self.o_command, command)
        slot_set(handle, self.o_run, run)
        slot_set(handle, self.o_lane, ls)
        slot_set(handle, self.o_manager, self.manager)
        slot_set(handle, self.o_timeout, timeout)
        slot_set(handle, self.o_failures, 0)
        slot_set(handle, self.o_runner, None)
        slot_set(handle, self.o_timer, None)
        if slot_get(ls, self.o_boost) is not None:
            slot_set(handle, self.o_submitted_at, now)
        if self.sample_every:
            self.sample_count += 1
            if self.sample_count >= self.sample_every:
                self.sample_count = 0
                slot_set(handle, self.o_queued_at, lanecore_monotonic())
        ticket = self.table.c_push(<Py_ssize_t>slot_get(ls, self.o_index), handle)
        slot_set(handle, self.o_ticket, ticket)
        PyDict_SetItem(self.inflight, command_id, handle)
        return handle

    cdef int _emit(self, int kind, object handle, object ls, double timestamp) except -1:
        """Record command event ``kind`` of ``handle`` (queued in lane record ``ls``) stamped
        ``timestamp``: straight into the unfiltered streams' rings, and through the hub for
        filtered streams. Records hold the fields, not the handle (its cache line goes cold)."""
        cdef list rings = self.rings
        cdef Py_ssize_t i = 0
        cdef EventRing ring
        if PyList_GET_SIZE(rings) == 1 and not self.filtered:  # one subscriber: no loop
            ring = <EventRing>PyList_GET_ITEM(rings, 0)
            if ring_record(  # (it owns what it keeps before it can drop anything)
                ring, kind, slot_ptr(ls, self.o_lane_id),
                slot_ptr(handle, self.o_command_id),
                slot_ptr(handle, self.o_command) if kind == STARTED else NULL, timestamp,
            ):
                ring.fire_waker()
            return 0
        if rings:
            lane_id = slot_get(ls, self.o_lane_id)
            command_id = slot_get(handle, self.o_command_id)
            source = slot_get(handle, self.o_command) if kind == STARTED else None
            while i < PyList_GET_SIZE(rings):  # (a waker may unsubscribe a stream)
                ring = <EventRing>PyList_GET_ITEM(rings, i)
                if ring_record(
                    ring, kind, <PyObject*>lane_id, <PyObject*>command_id,
                    NULL if source is None else <PyObject*>source, timestamp,
                ):
                    ring.fire_waker()
                i += 1
        if self.filtered:
            self.emit_filtered(kind, handle, timestamp)
        return 0

    def submit(self, ls, command, run, timeout, command_id):
        """Queue one checked command and dispatch what may run."""
        handle = self._queue(ls, command, run, timeout, command_id, self._loop.time())
        if self.listeners:
            self._emit(SUBMITTED, handle, ls, lanecore_event_clock())
        if slot_get(ls, self.o_hooks):
            self.manager._lane_changed(ls)
        if self.started:
            self.kick()
        return handle

    def submit_many(self, ls, commands, timeout, bint run_in_executor):
        """Check every command, then queue them all in order and dispatch what may run."""
        cdef list batch = list(commands)
        cdef list runs = []
        cdef list handles = []
        cdef double stamp
        cdef Py_ssize_t i, n = len(batch)
        cdef EventRing ring
        cdef long long first_id
        for command in batch:
            if is_coroutine_function(command):
                runs.append(command)
            else:
                runs.append(to_runner(command, run_in_executor))
        now = self._loop.time()
        first_id = self._next_id
        for i in range(n):
            handles.append(self._queue(ls, batch[i], runs[i], timeout, None, now))
        if self.listeners:
            stamp = lanecore_event_clock()  # one batch, one submit time
            if self.rings:  # one record for the batch: its ids are first_id, first_id + 1, ...
                lane_id = slot_get(ls, self.o_lane_id)
                for ring in self.rings:
                    ring.c_push_run(SUBMITTED, lane_id, first_id, n, stamp)
            if self.filtered:
                for handle in handles:
                    self.emit_filtered(SUBMITTED, handle, stamp)
        if slot_get(ls, self.o_hooks):
            self.manager._lane_changed(ls)
        if self.started:
            self.kick()
        return handles

    cpdef kick(self):
        """Hand commands that may run now to idle runners; if more may run, start one more
        runner (it takes the best command when it starts). Runners are added one at a time
        as commands suspend, so a burst of quick commands does not create a Task each."""
        if not self.started or self.closed:
            return
        cdef list idle = self.idle
        cdef LaneTable table = self.table
        manager = self.manager
        while idle:
            handle = table.c_pop_ready()
            if handle is None:
                break
            ls = slot_get(handle, self.o_lane)
            if slot_get(ls, self.o_hooks):
                manager._lane_changed(ls)
            idle.pop().set_result(handle)
        if not idle and not self.starting and table.c_can_pop():
            self.starting += 1
            manager._spawn(None)
        if self.rate_limited:
            manager._arm_token_timer()

    async def run(self, handle):
        """Run the given command (None: a new runner takes the best one), then keep pulling
        the next one until none may run, then wait to be handed one."""
        cdef LaneTable table = self.table
        cdef dict inflight = self.inflight
        cdef list listeners = self.listeners
        cdef list idle = self.idle
        cdef list drain_waiters = self.drain_waiters
        cdef bint rate_limited = self.rate_limited
        cdef Py_ssize_t burst = 0
        cdef double started = 0.0
        cdef PyObject* out = NULL
        # when this runner last recorded a COMPLETED event, until it next awaits: the next
        # command's STARTED event, recorded without a pause in between, shares that stamp
        cdef double stamp = 0.0
        # whether the handle may have been cancelled since it left the table (it was handed
        # over, or this runner awaited since popping it): only then ask handle.done()
        cdef bint may_be_done = True
        recorder = self.recorder
        cdef list wait_records = None, run_records = None
        if recorder is not None:
            wait_records = recorder.wait_records
            run_records = recorder.run_records
        manager = self.manager
        create_future = self._loop.create_future
        me = asyncio.current_task()
        if handle is None:
            self.starting -= 1
        while True:
            if handle is None:
                may_be_done = False
                handle = table.c_pop_ready()
                if handle is None:
                    if rate_limited:
                        manager._arm_token_timer()
                    parked = create_future()
                    idle.append(parked)
                    handle = await parked
                    stamp = 0.0
                    burst = 0
                    may_be_done = True
                    continue
                if rate_limited:
                    manager._arm_token_timer()
                ls = slot_get(handle, self.o_lane)
                if slot_get(ls, self.o_hooks):
                    manager._lane_changed(ls)  # (may record lane events: stamp afresh)
                    stamp = 0.0
                if not idle and not self.starting and table.c_can_pop():
                    # more may run: have a runner ready in case this command suspends
                    self.starting += 1
                    manager._spawn(None)
                burst += 1
                if burst >= _YIELD_EVERY:
                    burst = 0
                    await asyncio.sleep(0)
                    stamp = 0.0
                    may_be_done = True
            if not (may_be_done and handle.done()):  # else cancelled before it started
                ls = slot_get(handle, self.o_lane)
                slot_set(handle, self.o_runner, me)
                if recorder is not None:
                    started = 0.0
                    queued = slot_get(handle, self.o_queued_at)
                    if queued is not None:  # a sampled command: time its wait and its runs
                        started = lanecore_monotonic()
                        if <double>queued >= 0.0:  # its first run (a retry's wait has backoff)
                            slot_set(handle, self.o_queued_at, -1.0)
                            record_sample(
                                wait_records[<Py_ssize_t>slot_get(ls, self.o_index)],
                                (started - <double>queued) * 1000.0,
                            )
                if listeners:
                    self._emit(STARTED, handle, ls, stamp if stamp else lanecore_event_clock())
                stamp = 0.0
                seconds = slot_get(handle, self.o_timeout)
                deadline = None
                try:
                    if seconds is None:
                        awaitable = slot_get(handle, self.o_run)()
                        if not PyCoro_CheckExact(awaitable):
                            result = await awaitable
                        elif coro_first_step(awaitable, &out):  # suspended: await the rest
                            result = await _Resumed.__new__(_Resumed, awaitable, steal_ref(out))
                        else:  # finished without suspending (no wrapper, no StopIteration)
                            result = steal_ref(out)
                    else:
                        deadline = asyncio.timeout(seconds)
                        async with deadline:
                            result = await slot_get(handle, self.o_run)()
                except CancelledError as exc:
                    if handle.done():
                        return  # the handle was cancelled while running: this runner is detached
                    if me.cancelling():
                        manager._abandon(handle)
                        raise
                    manager._failed(handle, RuntimeError("command raised CancelledError"), exc)
                except TimeoutError as exc:
                    if handle.done():
                        return
                    if deadline is not None and deadline.expired():
                        manager._failed(
                            handle, CommandTimeout(slot_get(handle, self.o_command_id), seconds), exc
                        )
                    else:
                        manager._failed(handle, exc, None)
                except BaseException as exc:
                    if handle.done():
                        return
                    manager._failed(handle, exc, None)
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                else:
                    if handle.done():
                        return  # cancelled while running; the command ignored it
                    table.c_complete(<Py_ssize_t>slot_get(ls, self.o_index))
                    command_id = slot_get(handle, self.o_command_id)
                    PyDict_DelItem(inflight, command_id)
                    handle.set_result(result)
                    if started:
                        record_sample(
                            run_records[<Py_ssize_t>slot_get(ls, self.o_index)],
                            (lanecore_monotonic() - started) * 1000.0,
                        )
                    if listeners:
                        stamp = lanecore_event_clock()
                        self._emit(COMPLETED, handle, ls, stamp)
                    if not inflight and drain_waiters:
                        manager._wake_drainers()
            handle = None


@cython.final
cdef class _Resumed:
    """The rest of a native coroutine whose first step the runner took itself (PyIter_Send)
    and that suspended: awaiting this first yields what that step yielded, then forwards
    every send, throw and close to the coroutine, as ``await coroutine`` would have."""

    cdef object coro
    cdef object first  # what the first step yielded, until handed up
    cdef bint handed

    def __cinit__(self, coro, first):
        self.coro = coro
        self.first = first
        self.handed = False

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if not self.handed:
            self.handed = True
            first, self.first = self.first, None
            return first
        return self.coro.send(value)

    def throw(self, *args):
        self.handed = True
        self.first = None
        return self.coro.throw(*args)

    def close(self):
        self.first = None
        self.coro.close()
