# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""The scheduler's per-command path (compiled twin of ``lanecore._dispatch_py``).

``Dispatcher.submit`` takes the common command forms itself (async function, exact
``functools.partial`` of one, object with ``async def execute``, registered name without
storage): it makes the handle in a copy of the caller's context, queues it in the lane table
and wakes a runner, all in C. Runners pull the next command from the lane table, take each
step of it inside its context and resolve its handle. Everything else goes to the shell
through the ``DispatchHooks`` object (``lanecore._coreapi``), the only shell the core knows.
"""

import asyncio
import contextvars
import functools
import logging
import os
from asyncio import CancelledError

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.method cimport PyMethod_Check, PyMethod_GET_FUNCTION, PyMethod_GET_SELF
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.math cimport isfinite, log2

from lanecore_pyx._clock cimport lanecore_monotonic
from lanecore_pyx._eventclock cimport (
    EVENT_CLOCK_CAN_USE_TSC,
    lanecore_event_clock,
    lanecore_event_clock_enable,
    lanecore_event_clock_uses_tsc,
)
from lanecore_pyx._eventring cimport EventRing, ring_record, ring_record_grouped
from lanecore_pyx._lanetable cimport LaneTable
from lanecore_pyx._slots cimport slot_get, slot_offset, slot_ptr, slot_set, steal_ref

from lanecore import _coreapi

logger = logging.getLogger("lanecore")

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

    /* A bare instance of a class of __slots__ (its __init__ not called). */
    static PyObject* lanecore_bare_instance(PyObject* type) {
        static PyObject* no_args = NULL;
        PyTypeObject* t = (PyTypeObject*)type;
        if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL) return NULL;
        return t->tp_new(t, no_args, NULL);
    }

    /* What `await awaitable` iterates: a coroutine (or generator-based coroutine) itself,
       else what its __await__ returns; TypeError for what cannot be awaited. */
    static PyObject* lanecore_await_iter(PyObject* awaitable, PyObject* run) {
        PyTypeObject* t = Py_TYPE(awaitable);
        PyObject* it;
        if (PyCoro_CheckExact(awaitable)) {
            Py_INCREF(awaitable);
            return awaitable;
        }
        if (PyGen_CheckExact(awaitable)) {  /* a @types.coroutine generator may be awaited */
            PyObject* code = PyObject_GetAttrString(awaitable, "gi_code");
            int flags;
            if (code == NULL) return NULL;
            flags = ((PyCodeObject*)code)->co_flags;
            Py_DECREF(code);
            if (flags & CO_ITERABLE_COROUTINE) {
                Py_INCREF(awaitable);
                return awaitable;
            }
        }
        if (t->tp_as_async == NULL || t->tp_as_async->am_await == NULL) {
            PyErr_Format(PyExc_TypeError, "%R returned %R, which is not awaitable",
                         run, awaitable);
            return NULL;
        }
        it = t->tp_as_async->am_await(awaitable);
        if (it != NULL && !PyIter_Check(it)) {
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'",
                         Py_TYPE(it)->tp_name);
            Py_DECREF(it);
            return NULL;
        }
        return it;
    }

    /* One step of an awaitable's iterator inside ``ctx`` (entered and left around it, as a
       Task does): 0 with its return value in *out, 1 with what it yielded in *out, -1 with
       its exception set. */
    static int lanecore_step_in(PyObject* ctx, PyObject* it, PyObject* value, PyObject** out) {
        PySendResult r;
        PyObject *t, *v, *tb;
        if (PyContext_Enter(ctx) < 0) return -1;
        r = PyIter_Send(it, value, out);
        if (r == PYGEN_ERROR) {
            PyErr_Fetch(&t, &v, &tb);
            if (PyContext_Exit(ctx) < 0) PyErr_Clear();
            PyErr_Restore(t, v, tb);
            return -1;
        }
        if (PyContext_Exit(ctx) < 0) {
            Py_CLEAR(*out);
            return -1;
        }
        return r == PYGEN_RETURN ? 0 : 1;
    }

    static int lanecore_context_enter(PyObject* ctx) { return PyContext_Enter(ctx); }

    /* Submits made while the caller's context holds the same values share one copy of it:
       a context's values are an immutable mapping (a HAMT) that every ContextVar.set
       replaces, so the same mapping object means the same values. Each command then runs in
       its own copy of the shared one, made at its first attempt. PyContext's layout is
       CPython's own (Include/internal/pycore_context.h, the same from 3.7 to 3.13); the
       module checks it at import (_context_layout_holds) and copies at every submit when
       it does not hold, or on CPython >= 3.14, free-threaded builds and PyPy. */
    #if PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED) && !defined(PYPY_VERSION)
    #define LANECORE_SHARED_SNAPSHOTS 1
    #else
    #define LANECORE_SHARED_SNAPSHOTS 0
    #endif

    typedef struct {
        PyObject_HEAD
        PyObject* ctx_prev;
        PyObject* ctx_vars;
        PyObject* ctx_weakreflist;
        int ctx_entered;
    } lanecore_context_layout;

    static PyObject* lanecore_context_values(PyObject* ctx) {  /* borrowed */
        return ((lanecore_context_layout*)ctx)->ctx_vars;
    }

    static int lanecore_context_layout_size_ok(PyObject* ctx) {
        return Py_TYPE(ctx)->tp_basicsize == (Py_ssize_t)sizeof(lanecore_context_layout);
    }

    static PyObject* lanecore_thread_context(void) {  /* borrowed; NULL: none yet */
    #if LANECORE_SHARED_SNAPSHOTS
        return PyThreadState_Get()->context;
    #else
        return NULL;
    #endif
    }


    /* prefix + "-" + n (n >= 0), written straight into a new ASCII string when the prefix
       is ASCII (PyUnicode_FromFormat parses its format on every call). */
    static PyObject* lanecore_numbered_id(PyObject* prefix, long long n) {
        char digits[24];
        int count = 0, i;
        Py_ssize_t length;
        PyObject* result;
        char* out;
        if (n < 0 || !PyUnicode_IS_ASCII(prefix))
            return PyUnicode_FromFormat("%U-%lld", prefix, n);
        do { digits[count++] = (char)('0' + n % 10); n /= 10; } while (n);
        length = PyUnicode_GET_LENGTH(prefix);
        result = PyUnicode_New(length + 1 + count, 127);
        if (result == NULL) return NULL;
        out = (char*)PyUnicode_DATA(result);
        memcpy(out, PyUnicode_DATA(prefix), (size_t)length);
        out[length] = '-';
        for (i = 0; i < count; i++) out[length + 1 + i] = digits[count - 1 - i];
        return result;
    }

    /* Leave ``ctx`` keeping any exception being raised. */
    static int lanecore_context_exit(PyObject* ctx) {
        PyObject *t, *v, *tb;
        int r;
        PyErr_Fetch(&t, &v, &tb);
        r = PyContext_Exit(ctx);
        if (t != NULL) {
            if (r < 0) PyErr_Clear();
            PyErr_Restore(t, v, tb);
            return 0;
        }
        return r;
    }
    """
    object new_instance "lanecore_new_instance"(object type, object kwargs)
    object bare_instance "lanecore_bare_instance"(object type)
    object await_iter "lanecore_await_iter"(object awaitable, object run)
    int step_in "lanecore_step_in"(object ctx, object it, object value, PyObject** out) except -1
    int context_enter "lanecore_context_enter"(object ctx) except -1
    int context_exit "lanecore_context_exit"(object ctx) except -1
    object numbered_id "lanecore_numbered_id"(str prefix, long long n)
    const bint CAN_SHARE_SNAPSHOTS "LANECORE_SHARED_SNAPSHOTS"
    PyObject* thread_context "lanecore_thread_context"() noexcept
    PyObject* context_values "lanecore_context_values"(PyObject* ctx) noexcept
    bint context_layout_size_ok "lanecore_context_layout_size_ok"(object ctx) noexcept
    object PyContext_Copy(object ctx)
    object PyUnicode_FromFormat(const char* fmt, ...)
    bint PyUnicode_CheckExact(object o)

cdef extern from "Python.h":
    ctypedef struct PyCodeObject:
        int co_flags
    bint PyFunction_Check(object o)
    PyObject* PyFunction_GET_CODE(object o)
    int CO_COROUTINE
    object PyContext_CopyCurrent()
    object call_no_args "PyObject_CallNoArgs"(object callable)
    object call_one_arg "PyObject_CallOneArg"(PyObject* callable, PyObject* arg)

# A runner that keeps finding commands which finish without suspending yields to the loop
# after this many, so other tasks and I/O are never starved by a burst of quick commands.
YIELD_EVERY = 256
cdef Py_ssize_t _YIELD_EVERY = YIELD_EVERY

cdef int SUBMITTED = _coreapi.SUBMITTED_KIND
cdef int STARTED = _coreapi.STARTED_KIND
cdef int COMPLETED = _coreapi.COMPLETED_KIND
cdef int RAISED = _coreapi.RAISED
cdef int TIMED_OUT = _coreapi.TIMED_OUT
cdef int CANCELLED_ITSELF = _coreapi.CANCELLED_ITSELF
cdef object NO_ARGUMENT = _coreapi.NO_ARGUMENT
cdef object NamedCommand = _coreapi.NamedCommand
cdef Py_ssize_t o_named_handler = slot_offset(NamedCommand, "_handler")
cdef Py_ssize_t o_named_type = slot_offset(NamedCommand, "command_type")
cdef Py_ssize_t o_named_payload = slot_offset(NamedCommand, "payload")
cdef Py_ssize_t o_named_json = slot_offset(NamedCommand, "payload_json")
cdef int JSON_DEPTH = _coreapi.JSON_DEPTH


cdef bint _context_layout_holds():
    """Whether contexts here have the layout lanecore_context_values reads."""
    cdef PyObject* empty
    if not CAN_SHARE_SNAPSHOTS:
        return False
    first = contextvars.copy_context()
    second = contextvars.copy_context()
    if not context_layout_size_ok(first):
        return False
    if context_values(<PyObject*>first) != context_values(<PyObject*>second):
        return False
    probe = contextvars.ContextVar("lanecore layout probe")
    changed = contextvars.Context()
    before = contextvars.Context()
    empty = context_values(<PyObject*>before)
    if empty == NULL:
        return False
    changed.run(probe.set, 1)
    return context_values(<PyObject*>changed) != empty and changed.get(probe) == 1


cdef bint SHARED_SNAPSHOTS = _context_layout_holds()
SHARES_CONTEXT_COPIES = SHARED_SNAPSHOTS
"""Whether submits share one copy of an unchanged caller context (see _context_now)."""
cdef object PARTIAL = functools.partial
cdef object ZERO = 0
cdef object ONE = 1
cdef Py_ssize_t EXECUTE_CACHE_SIZE = 1024


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


cdef object SAMPLE_RECORD = _coreapi.SampleBuckets.record
cdef double SAMPLE_LOWEST = _coreapi.LOWEST_MS
cdef double SAMPLE_HIGHEST = _coreapi.HIGHEST_MS
cdef double SAMPLE_SUB_BUCKETS = _coreapi.SUB_BUCKETS
cdef double SAMPLE_OFFSET = _coreapi.BUCKET_OFFSET
cdef Py_ssize_t o_sample_buckets = slot_offset(_coreapi.SampleBuckets, "_buckets")
cdef Py_ssize_t o_sample_sum = slot_offset(_coreapi.SampleBuckets, "sum")
cdef Py_ssize_t o_sample_min = slot_offset(_coreapi.SampleBuckets, "min")
cdef Py_ssize_t o_sample_max = slot_offset(_coreapi.SampleBuckets, "max")


cdef void record_sample(object record, double ms) except *:
    """``record(ms)`` for a sampled command's wait or run time. When ``record`` is
    ``SampleBuckets.record`` (LocalMetrics' histograms) and ``ms`` is in its tracked range,
    its body runs here instead, with the same arithmetic (so the same bucket, sum, min and
    max): a sample then costs no Python frame."""
    cdef Py_ssize_t i
    if (
        PyMethod_Check(record)
        and <object>PyMethod_GET_FUNCTION(record) is SAMPLE_RECORD
        and SAMPLE_LOWEST <= ms < SAMPLE_HIGHEST
    ):
        buckets_of = <object>PyMethod_GET_SELF(record)
        buckets = slot_get(buckets_of, o_sample_buckets)
        i = <Py_ssize_t>(log2(ms) * SAMPLE_SUB_BUCKETS + SAMPLE_OFFSET)
        if PyList_CheckExact(buckets) and 0 <= i < PyList_GET_SIZE(buckets):
            (<list>buckets)[i] = <object>PyList_GET_ITEM(buckets, i) + 1
            value = ms
            slot_set(buckets_of, o_sample_sum, slot_get(buckets_of, o_sample_sum) + value)
            if value < slot_get(buckets_of, o_sample_min):
                slot_set(buckets_of, o_sample_min, value)
            if value > slot_get(buckets_of, o_sample_max):
                slot_set(buckets_of, o_sample_max, value)
            return
    record(ms)


def _record_sample(record, double ms):
    """record_sample, for the tests."""
    record_sample(record, ms)


cdef bint c_plain_json(object value, int depth) except -1:
    """lanecore._coreapi.plain_json, in C: whether ``value`` is JSON as it stands."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return True
    if kind is float:
        return isfinite(<double>value)
    if depth >= JSON_DEPTH:
        return False
    if kind is list or kind is tuple:
        for item in value:
            if not c_plain_json(item, depth + 1):
                return False
        return True
    if kind is dict:
        for key, item in (<dict>value).items():
            if type(key) is not str or not c_plain_json(item, depth + 1):
                return False
        return True
    return False


def plain_json(value):
    """lanecore._coreapi.plain_json as the compiled core decides it (for the tests)."""
    return c_plain_json(value, 0)


cdef extern from *:
    """
    /* One step of ``it`` in the context already entered: 0 returned, 1 yielded, -1 raised. */
    static int lanecore_step_entered(PyObject* it, PyObject** out) {
        PySendResult r = PyIter_Send(it, Py_None, out);
        return r == PYGEN_RETURN ? 0 : (r == PYGEN_NEXT ? 1 : -1);
    }
    """
    int step_in_entered "lanecore_step_entered"(object it, PyObject** out) except -1


cdef int attempt_start(object context, object run, PyObject** out, PyObject** it_out) except -1:
    """Start one attempt of a command inside ``context``: call ``run`` and take the first
    step of what it returned. 0: it returned (*out); 1: it suspended (*out is what it yielded,
    *it_out the iterator that steps the rest); raises what it raised."""
    cdef int status
    context_enter(context)
    try:
        if (  # handler(payload), without NamedCommand.__call__'s frame
            type(run) is NamedCommand
            and slot_ptr(run, o_named_handler) != NULL
            and slot_ptr(run, o_named_payload) != NULL
        ):
            awaitable = call_one_arg(
                slot_ptr(run, o_named_handler), slot_ptr(run, o_named_payload)
            )
        else:
            awaitable = call_no_args(run)
        it = await_iter(awaitable, run)
        awaitable = None
        status = step_in_entered(it, out)
        if status:
            it_out[0] = <PyObject*>it
            Py_INCREF(it)
        return status
    finally:
        context_exit(context)


@cython.final
cdef class LaneRecord:
    """The core's record of one lane; ``policy`` is the shell's object for it."""

    def __init__(self, str lane_id, Py_ssize_t index, timeout, bint run_in_executor,
                 bint hooks, bint stamps, policy):
        self.lane_id = lane_id
        self.index = index
        self.timeout = timeout
        self.run_in_executor = run_in_executor
        self.hooks = hooks
        self.stamps = stamps
        self.policy = policy
        self.max_pending = 0
        self.held = 0

    def __repr__(self):
        return f"<LaneRecord {self.lane_id!r} #{self.index}>"


@cython.final
cdef class _InContext:
    """One attempt of a command, awaited inside its context: every step the awaiting runner
    takes (send, throw, close) is taken inside ``context``, as a Task steps its coroutine.
    Either the runner took the first step itself and it suspended (``first`` is what it
    yielded), or the attempt starts at the first send (``run`` set)."""

    cdef object context
    cdef object it      # what steps the attempt (None until it starts)
    cdef object run     # the Runner to start with, when the attempt has not started
    cdef object first   # what the first step yielded, until handed up
    cdef bint handed

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self._send(None)

    def send(self, value):
        return self._send(value)

    cdef object _send(self, object value):
        cdef PyObject* out = NULL
        cdef PyObject* it = NULL
        cdef int status
        if not self.handed:
            self.handed = True
            if self.it is not None:
                first, self.first = self.first, None
                return first
            run, self.run = self.run, None
            status = attempt_start(self.context, run, &out, &it)
            if status:
                self.it = steal_ref(it)
                return steal_ref(out)
        else:
            status = step_in(self.context, self.it, value, &out)
            if status:
                return steal_ref(out)
        self.it = None
        raise StopIteration(steal_ref(out))

    def throw(self, typ, val=None, tb=None):
        self.first = None
        if self.it is None:  # never started or finished: nothing inside to throw into
            self.handed = True
            self.run = None
            raise typ if val is None else val
        context_enter(self.context)
        try:
            if val is None and tb is None:
                return self.it.throw(typ)
            return self.it.throw(typ, val, tb)
        finally:
            context_exit(self.context)

    def close(self):
        self.first = None
        self.run = None
        it, self.it = self.it, None
        if it is not None:
            close = getattr(it, "close", None)
            if close is not None:
                context_enter(self.context)
                try:
                    close()
                finally:
                    context_exit(self.context)


cdef inline _InContext suspended(object context, object it, object first):
    cdef _InContext step = _InContext.__new__(_InContext)
    step.context = context
    step.it = it
    step.first = first
    return step


cdef inline _InContext lazy(object context, object run):
    cdef _InContext step = _InContext.__new__(_InContext)
    step.context = context
    step.run = run
    return step


# An outstanding command's window slot is cleared at completion without reading its id object
# (the runner has the number from the lane table's tag): a window far larger than what it
# holds moves its oldest live entries to ``spilled``, so memory stays bounded by the commands
# outstanding plus this slack.
cdef Py_ssize_t WINDOW_SLACK = 4096


@cython.final
cdef class _Window:
    """Handles by a number handed out in increasing order, in a list indexed by number."""

    def __cinit__(self):
        self.slots = []
        self.spilled = {}
        self.base = 1
        self.head = 0
        self.count = 0

    cdef int add(self, long long number, object handle) except -1:
        if self.count == 0:  # everything done: start afresh
            self.slots.clear()
            self.head = 0
            self.base = number
        if number < self.base + PyList_GET_SIZE(self.slots):
            raise RuntimeError(f"command number {number} out of order")  # (never)
        while number > self.base + PyList_GET_SIZE(self.slots):  # numbers taken elsewhere
            self.slots.append(None)
        self.slots.append(handle)
        self.count += 1
        return 0

    cdef bint remove(self, long long number) except -1:
        """Drop ``number``; whether it was there."""
        cdef list slots = self.slots
        cdef long long i = number - self.base
        if self.head <= i < PyList_GET_SIZE(slots) and PyList_GET_ITEM(slots, i) != <PyObject*>None:
            slots[i] = None
        elif self.spilled.pop(number, None) is None:
            return False
        self.count -= 1
        if i == self.head:
            self._advance()
        return True

    cdef int _advance(self) except -1:
        cdef list slots = self.slots
        cdef Py_ssize_t size = PyList_GET_SIZE(slots)
        while self.head < size and PyList_GET_ITEM(slots, self.head) == <PyObject*>None:
            self.head += 1
        while size - self.head > 4 * self.count + WINDOW_SLACK:  # a sparse window: spill
            item = <object>PyList_GET_ITEM(slots, self.head)
            if item is not None:
                self.spilled[self.base + self.head] = item
                slots[self.head] = None
            self.head += 1
        if self.head >= WINDOW_SLACK and self.head * 2 >= size:
            del slots[: self.head]
            self.base += self.head
            self.head = 0
        return 0

    cdef object get(self, object number):
        """The handle of ``number`` (a Python int), or None."""
        if self.base + self.head <= number < self.base + PyList_GET_SIZE(self.slots):
            return self.slots[number - self.base]
        return self.spilled.get(number)

    cdef list items(self):
        """(number, handle) of every entry, by number."""
        cdef Py_ssize_t i
        found = sorted(self.spilled.items())
        for i in range(self.head, PyList_GET_SIZE(self.slots)):
            item = self.slots[i]
            if item is not None:
                found.append((self.base + i, item))
        return found


@cython.final
cdef class Inflight:
    """Every outstanding command (queued, running or waiting to retry) by id: a read-only
    mapping for the shell. Auto-numbered ids (ints) and the core's own named-command ids
    (``prefix-n``) sit in windows indexed by number; other ids in a dict."""

    def __cinit__(self):
        self.named = {}
        self.auto = _Window()
        self.numbered = _Window()
        self.prefix = None
        self.count = 0

    cdef int add_auto(self, long long command_id, object handle) except -1:
        self.auto.add(command_id, handle)
        self.count += 1
        return 0

    cdef int add_numbered(self, long long number, object handle) except -1:
        self.numbered.add(number, handle)
        self.count += 1
        return 0

    cdef int add_named(self, object command_id, object handle) except -1:
        PyDict_SetItem(self.named, command_id, handle)
        self.count += 1
        return 0

    cdef int remove_auto(self, long long command_id) except -1:
        if self.auto.remove(command_id):
            self.count -= 1
        return 0

    cdef int remove_numbered(self, long long number) except -1:
        if self.numbered.remove(number):
            self.count -= 1
        return 0

    cdef object _number_of(self, object command_id):
        """n for an id ``prefix``-n of the core's own numbering, else None."""
        if self.prefix is None or not PyUnicode_CheckExact(command_id):
            return None
        if not (<str>command_id).startswith(self.prefix):
            return None
        digits = (<str>command_id)[len(self.prefix):]
        if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0"):
            return None
        return int(digits)

    cdef int remove(self, object command_id) except -1:
        """Drop ``command_id`` if it is outstanding (any id)."""
        if type(command_id) is int:
            self.remove_auto(command_id)
            return 0
        try:
            if self.named.pop(command_id, None) is not None:
                self.count -= 1
                return 0
        except TypeError:  # unhashable: no such command
            return 0
        number = self._number_of(command_id)
        if number is not None:
            self.remove_numbered(number)
        return 0

    def __len__(self):
        return self.count

    def __bool__(self):
        return self.count > 0

    def get(self, command_id, default=None):
        """The handle of an outstanding command, or ``default``."""
        if type(command_id) is int:
            item = self.auto.get(command_id)
        else:
            try:
                item = self.named.get(command_id)
            except TypeError:  # unhashable: no such command
                return default
            if item is None:
                number = self._number_of(command_id)
                if number is not None:
                    item = self.numbered.get(number)
        return default if item is None else item

    def __contains__(self, command_id):
        return self.get(command_id) is not None

    def __getitem__(self, command_id):
        item = self.get(command_id)
        if item is None:
            raise KeyError(command_id)
        return item

    def keys(self):
        """The ids of the outstanding commands."""
        return [key for key, _ in self.items()]

    def __iter__(self):
        return iter(self.keys())

    def values(self):
        """The handles of the outstanding commands."""
        return [item for _, item in self.items()]

    def items(self):
        """(id, handle) of every outstanding command: by a given id, then the core's named
        ones, then the auto-numbered ones, each in submit order."""
        found = list(self.named.items())
        found.extend([(f"{self.prefix}{n}", item) for n, item in self.numbered.items()])
        found.extend(self.auto.items())
        return found

    def __repr__(self):
        return f"<Inflight {self.count} outstanding>"

cdef class Dispatcher:
    """The per-command path of one manager. ``hooks`` is the shell's side of the interface
    (``lanecore._coreapi.DispatchHooks``); ``rings`` and ``filtered`` are the event hub's
    lists (the core appends to neither)."""

    def __init__(self, hooks, LaneTable table, type handle_type, *, list rings,
                 list filtered, emit_filtered):
        self.hooks = hooks
        self.table = table
        self.handle_type = handle_type
        self.lanes = {}
        self.inflight = Inflight()
        self.idle = []
        self.runners = set()
        self.rings = rings
        self.filtered = filtered
        self.emit_filtered = emit_filtered
        self.loop = None
        self.accepting = True
        self.started = False
        self.closed = False
        self.rate_limited = False
        self.token_armed_for = -1
        self.drain_wanted = False
        self._next_id = 1
        self.starting = 0
        self.waking = False
        self.recorder = None
        self.sample_every = 0
        self.sample_count = 0
        self.named = None
        self.named_prefix = ""
        self.named_next = 0
        self._execute_is_async = {}
        self._runner_context = contextvars.Context()
        self._runner_done_cb = self._runner_done
        future_set_result = asyncio.Future.set_result
        self._future_set_result = (
            future_set_result if handle_type.set_result is future_set_result else None
        )
        self.o_command_id = slot_offset(handle_type, "command_id")
        self.o_command = slot_offset(handle_type, "_command")
        self.o_context = slot_offset(handle_type, "_context")
        self.o_cost = slot_offset(handle_type, "_cost")
        self.o_group = slot_offset(handle_type, "_group")
        self.o_failures = slot_offset(handle_type, "_failures")
        self.o_lane = slot_offset(handle_type, "_lane")
        self.o_owner = slot_offset(handle_type, "_owner")
        self.o_queued_at = slot_offset(handle_type, "_queued_at")
        self.o_run = slot_offset(handle_type, "_run")
        self.o_runner = slot_offset(handle_type, "_runner")
        self.o_submitted_at = slot_offset(handle_type, "_submitted_at")
        self.o_ticket = slot_offset(handle_type, "_ticket")
        self.o_timeout = slot_offset(handle_type, "_timeout")
        self.o_timer = slot_offset(handle_type, "_timer")

    @property
    def loop(self):
        """The event loop the manager is bound to (None until it is)."""
        return self._loop

    @loop.setter
    def loop(self, loop):
        self._loop = loop
        self._handle_kwargs = {"loop": loop}
        self._create_task = None if loop is None else loop.create_task

    @property
    def named_prefix(self):
        """What the core's named-command ids start with (``named_prefix``-n)."""
        return self._named_prefix

    @named_prefix.setter
    def named_prefix(self, str prefix):
        self._named_prefix = prefix
        self.inflight.prefix = prefix + "-"

    @property
    def next_id(self):
        """The command id the next auto-numbered command gets."""
        return self._next_id

    # ------------------------------------------------------------------ lanes
    def add_lane(self, lane_id, Py_ssize_t index, timeout, bint run_in_executor, bint hooks,
                 bint stamps, policy):
        """Record a lane of the table (``index``) under ``lane_id`` and return its record."""
        if not isinstance(lane_id, str) or not lane_id:
            raise ValueError(f"lane id must be a non-empty str, got {lane_id!r}")
        if lane_id in self.lanes:
            raise ValueError(f"duplicate lane id {lane_id!r}")
        record = LaneRecord(lane_id, index, timeout, run_in_executor, hooks, stamps, policy)
        self.lanes[lane_id] = record
        return record

    # ------------------------------------------------------------------ submitting
    cdef object _named_id(self):
        self.named_next += 1
        return numbered_id(self._named_prefix, self.named_next)

    def named_id(self):
        """A fresh id for a named command (``named_prefix``-n)."""
        return self._named_id()

    cdef bint _execute_is_async_of(self, object kind) except -1:
        """Whether class ``kind`` has an async ``execute`` (remembered per class)."""
        cdef PyObject* known = PyDict_GetItem(self._execute_is_async, kind)
        if known != NULL:
            return <object>known is True
        is_async = is_coroutine_function(getattr(kind, "execute", None))
        if len(self._execute_is_async) >= EXECUTE_CACHE_SIZE:
            self._execute_is_async.clear()
        self._execute_is_async[kind] = is_async
        return is_async

    cdef object _runner_of(self, object command):
        if is_coroutine_function(command):
            return command
        kind = type(command)
        if kind is PARTIAL:
            return command if is_coroutine_function(command.func) else None
        return command.execute if self._execute_is_async_of(kind) else None

    def runner_of(self, command):
        """The Runner of a command of a common form, or None (then the shell decides)."""
        return self._runner_of(command)

    def submit(self, lane_id, command, payload=NO_ARGUMENT, *, timeout=None, command_id=None,
               run_in_executor=None, cost=None, delay=None, group=None):
        """Queue a command on a lane and return its handle (see QueueManager.submit)."""
        cdef PyObject* found
        cdef LaneRecord ls
        if (
            timeout is None
            and command_id is None
            and run_in_executor is None
            and cost is None
            and delay is None
            and group is None
            and self.accepting
            and self._loop is not None
            and PyUnicode_CheckExact(lane_id)
        ):
            found = PyDict_GetItem(self.lanes, lane_id)
            if found != NULL and (
                (<LaneRecord>found).max_pending == 0
                or self.table._lanes[(<LaneRecord>found).index].pending + (<LaneRecord>found).held
                < (<LaneRecord>found).max_pending
            ):
                ls = <LaneRecord>found
                if payload is NO_ARGUMENT:
                    run = self._runner_of(command)
                    if run is not None:
                        return self._queue(ls, command, run, ls.timeout, None, None)
                elif PyUnicode_CheckExact(command) and self.named is not None:
                    found = PyDict_GetItem(self.named, command)
                    if found != NULL and c_plain_json(payload, 0):
                        named = bare_instance(NamedCommand)
                        slot_set(named, o_named_handler, <object>found)
                        slot_set(named, o_named_type, command)
                        slot_set(named, o_named_payload, payload)
                        slot_set(named, o_named_json, "")
                        command_id = self._named_id()
                        return self._queue(
                            ls, named, named, ls.timeout, command_id, None, self.named_next
                        )
        return self.hooks.submit(
            lane_id, command, payload, timeout, command_id, run_in_executor, cost, delay, group
        )

    cdef object _context_now(self):
        """A copy of the caller's context, shared with the submits before it while the
        context holds the same values (the same mapping object); each command's first
        attempt runs in its own copy of it."""
        cdef PyObject* current = thread_context()
        if (
            SHARED_SNAPSHOTS
            and current != NULL
            and self._snap_copy is not None
            and context_values(current) == context_values(<PyObject*>self._snap_copy)
        ):
            return self._snap_copy
        copy = PyContext_CopyCurrent()
        if SHARED_SNAPSHOTS:
            self._snap_copy = copy
        return copy

    cdef object _handle(self, LaneRecord ls, object command, object run, object timeout,
                        object command_id, object context, long long number=0,
                        object cost=ONE, object group=None, bint hold=False):
        cdef long long auto = 0
        cdef long long tag
        if command_id is None:
            auto = self._next_id
            command_id = auto
            self._next_id += 1
        handle = new_instance(self.handle_type, self._handle_kwargs)  # handle_type(loop=...)
        slot_set(handle, self.o_command_id, command_id)
        slot_set(handle, self.o_command, command)
        slot_set(handle, self.o_run, run)
        slot_set(handle, self.o_lane, ls)
        slot_set(handle, self.o_owner, self.hooks)
        slot_set(handle, self.o_timeout, timeout)
        slot_set(handle, self.o_failures, 0)
        slot_set(handle, self.o_runner, None)
        slot_set(handle, self.o_timer, None)
        slot_set(handle, self.o_context, self._context_now() if context is None else context)
        slot_set(handle, self.o_cost, cost)
        slot_set(handle, self.o_group, group)
        slot_set(handle, self.o_queued_at, None)
        if ls.stamps:
            slot_set(handle, self.o_submitted_at, self._loop.time())
        if self.sample_every:
            self.sample_count += 1
            if self.sample_count >= self.sample_every:
                self.sample_count = 0
                slot_set(handle, self.o_queued_at, lanecore_monotonic())
        # the lane table keeps the command's number as its tag, so the runner finds it in
        # Inflight without reading the id: auto id n -> n; the core's named id prefix-n ->
        # -1 - n; any other id -> -1
        if auto:
            self.inflight.add_auto(auto, handle)
            tag = auto
        elif number:
            self.inflight.add_numbered(number, handle)
            tag = -1 - number
        else:
            self.inflight.add_named(command_id, handle)
            tag = -1
        if hold:
            return handle
        if cost is ONE:
            slot_set(handle, self.o_ticket, self.table.c_push_tagged(ls.index, handle, tag))
        else:
            slot_set(handle, self.o_ticket, self._push(ls, handle, cost))
        return handle

    cdef object _push(self, LaneRecord ls, object handle, object cost):
        """Push a handle with no tag (the runner then finds it in Inflight by its id)."""
        if cost is ONE or cost == 1:
            return self.table.c_push_tagged(ls.index, handle, -1)
        return self.table.c_push_costed(ls.index, handle, -1, cost)

    cdef object _queue(self, LaneRecord ls, object command, object run, object timeout,
                       object command_id, object context, long long number=0,
                       object cost=ONE, object group=None, bint hold=False):
        handle = self._handle(
            ls, command, run, timeout, command_id, context, number, cost, group, hold
        )
        if PyList_GET_SIZE(self.rings) or PyList_GET_SIZE(self.filtered):
            self._emit(SUBMITTED, handle, ls, lanecore_event_clock())
        if not hold:
            if ls.hooks:
                self.hooks.lane_changed(ls)
            self.kick()
        return handle

    def queue(self, LaneRecord ls, command, run, timeout, command_id, context=None, cost=1,
              group=None, bint hold=False):
        """Queue one checked command (in ``context``; None: a copy of the current one) and
        dispatch what may run. The shell's checked submits end here. ``hold``: make the
        handle but keep it out of its lane until the shell releases it (a delay)."""
        return self._queue(
            ls, command, run, timeout, command_id, context, 0,
            ONE if cost == 1 else cost, group, hold,
        )

    def release(self, handle):
        """Put a held handle (delayed, or waiting to retry) at the back of its lane and
        dispatch what may run."""
        cdef LaneRecord ls = <LaneRecord>slot_get(handle, self.o_lane)
        slot_set(handle, self.o_ticket, self._push(ls, handle, slot_get(handle, self.o_cost)))
        if ls.hooks:
            self.hooks.lane_changed(ls)
        self.kick()

    def queue_many(self, LaneRecord ls, commands, timeout):
        """Check every command, then queue them all in order (each in its own copy of the
        current context) and dispatch what may run."""
        cdef list batch = list(commands)
        cdef list runs = []
        cdef list handles = []
        cdef double stamp
        cdef Py_ssize_t i, n = len(batch)
        cdef EventRing ring
        cdef long long first_id
        for command in batch:  # check them all first; bind an execute only as it is queued
            if is_coroutine_function(command) or (
                type(command) is PARTIAL and is_coroutine_function(command.func)
            ):
                runs.append(command)
            elif self._execute_is_async_of(type(command)):
                runs.append(None)
            else:
                runs.append(self.hooks.runner_for(command, ls.run_in_executor))
        first_id = self._next_id
        for i in range(n):
            command = batch[i]
            run = runs[i]
            handles.append(
                self._handle(
                    ls, command, command.execute if run is None else run, timeout, None, None
                )
            )
        if PyList_GET_SIZE(self.rings) or PyList_GET_SIZE(self.filtered):
            stamp = lanecore_event_clock()  # one batch, one submit time
            for ring in self.rings:  # one record for the batch: ids first_id, first_id + 1, ...
                ring.c_push_run(SUBMITTED, ls.lane_id, first_id, n, stamp)
            if self.filtered:
                for handle in handles:
                    self.emit_filtered(SUBMITTED, handle, stamp)
        if ls.hooks:
            self.hooks.lane_changed(ls)
        self.kick()
        return handles

    cdef int _emit(self, int kind, object handle, LaneRecord ls, double timestamp) except -1:
        """Record command event ``kind`` of ``handle`` stamped ``timestamp``: straight into
        the unfiltered streams' rings, and through the hub for filtered streams. Records hold
        the fields, not the handle (its cache line goes cold)."""
        cdef list rings = self.rings
        cdef Py_ssize_t i = 0
        cdef EventRing ring
        group = slot_get(handle, self.o_group)
        if group is not None:  # (grouped: the event carries the group)
            lane_id = ls.lane_id
            command_id = slot_get(handle, self.o_command_id)
            source = slot_get(handle, self.o_command) if kind == STARTED else None
            while i < PyList_GET_SIZE(rings):  # (a waker may unsubscribe a stream)
                ring = <EventRing>PyList_GET_ITEM(rings, i)
                if ring_record_grouped(
                    ring, kind, <PyObject*>lane_id, <PyObject*>command_id,
                    NULL if source is None else <PyObject*>source, timestamp, <PyObject*>group,
                ):
                    ring.fire_waker()
                i += 1
            if self.filtered:
                self.emit_filtered(kind, handle, timestamp)
            return 0
        if PyList_GET_SIZE(rings) == 1 and not self.filtered:  # one subscriber: no loop
            ring = <EventRing>PyList_GET_ITEM(rings, 0)
            if ring_record(  # (it owns what it keeps before it can drop anything)
                ring, kind, <PyObject*>ls.lane_id,
                slot_ptr(handle, self.o_command_id),
                slot_ptr(handle, self.o_command) if kind == STARTED else NULL, timestamp,
            ):
                ring.fire_waker()
            return 0
        if rings:
            lane_id = ls.lane_id
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

    def forget(self, handle):
        """The handle is resolved outside the runner (cancelled, dead-lettered): drop it."""
        self.inflight.remove(slot_get(handle, self.o_command_id))
        if not self.inflight.count and self.drain_wanted:
            self.hooks.drained()

    # ------------------------------------------------------------------ runners
    cpdef kick(self):
        """Make sure a runner will look for work: wake one idle runner, or start one. Nothing
        is done while one already woken or started has not looked yet, so a burst of submits
        costs one wake-up; each runner that finds work wakes the next if more may run."""
        if not self.started or self.closed:
            return
        if not (self.waking or self.starting) and self.table.c_can_pop():
            self._wake_one()
        if (
            self.rate_limited
            and self.table._throttled_count  # (no throttled lane: no token to wait for)
            and self.table._throttled_count != self.token_armed_for  # (armed for these)
        ):
            self.hooks.arm_token_timer()

    cdef int _wake_one(self) except -1:
        cdef list idle = self.idle
        while idle:
            parked = idle.pop()
            if not parked.done():
                self.waking = True
                parked.set_result(None)
                return 0
        self.starting += 1
        task = self._create_task(self.run(), context=self._runner_context)
        self.runners.add(task)
        task.add_done_callback(self._runner_done_cb)
        return 0

    def _runner_done(self, task):
        self.runners.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                logger.error("lanecore runner crashed", exc_info=exc)

    async def run(self):
        """A runner: take the best command that may run, run it, repeat; park when none may."""
        cdef LaneTable table = self.table
        cdef Inflight inflight = self.inflight
        cdef long long tag = -1
        cdef list idle = self.idle
        cdef list rings = self.rings
        cdef list filtered = self.filtered
        cdef Py_ssize_t burst = 0
        cdef double started = 0.0
        cdef PyObject* out = NULL
        cdef PyObject* it = NULL
        cdef int status
        cdef LaneRecord ls
        # when this runner last recorded a COMPLETED event, until it next awaits: the next
        # command's STARTED event, recorded without a pause in between, shares that stamp
        cdef double stamp = 0.0
        hooks = self.hooks
        recorder = self.recorder
        cdef list wait_records = None, run_records = None
        if recorder is not None:
            wait_records = recorder.wait_records
            run_records = recorder.run_records
        create_future = self._loop.create_future
        set_result = self._future_set_result
        me = asyncio.current_task()
        self.starting -= 1
        while True:
            if burst >= _YIELD_EVERY:
                burst = 0
                await asyncio.sleep(0)
                stamp = 0.0
            handle = table.c_pop_ready_tagged(&tag)
            # (a lane with a rate limit may be added at run time; with none throttled, or
            # the shell's timer armed for the lanes throttled now, the hook would return at
            # once: lanes are only throttled by pops, so none needs an earlier wake)
            if (
                self.rate_limited
                and table._throttled_count
                and table._throttled_count != self.token_armed_for
            ):
                hooks.arm_token_timer()
            if handle is None:
                parked = create_future()
                idle.append(parked)
                await parked
                self.waking = False
                stamp = 0.0
                burst = 0
                continue
            burst += 1
            ls = <LaneRecord>slot_get(handle, self.o_lane)
            if ls.hooks:
                hooks.lane_changed(ls)  # (may record lane events: stamp afresh)
                stamp = 0.0
            if not (self.waking or self.starting) and table.c_can_pop():
                self._wake_one()  # more may run: a runner for it, in case this one suspends
            slot_set(handle, self.o_runner, me)
            if recorder is not None:
                started = 0.0
                queued = slot_get(handle, self.o_queued_at)
                if queued is not None:  # a sampled command: time its wait and its runs
                    started = lanecore_monotonic()
                    if <double>queued >= 0.0:  # its first run (a retry's wait has backoff)
                        slot_set(handle, self.o_queued_at, -1.0)
                        record_sample(wait_records[ls.index], (started - <double>queued) * 1000.0)
            if PyList_GET_SIZE(rings) or PyList_GET_SIZE(filtered):
                self._emit(STARTED, handle, ls, stamp if stamp else lanecore_event_clock())
            stamp = 0.0
            if SHARED_SNAPSHOTS and slot_ptr(handle, self.o_failures) == <PyObject*>ZERO:
                # its first attempt: its own copy of the context it shares with other submits
                slot_set(handle, self.o_context, PyContext_Copy(slot_get(handle, self.o_context)))
            seconds = slot_get(handle, self.o_timeout)
            deadline = None
            try:
                if seconds is None:
                    status = attempt_start(
                        slot_get(handle, self.o_context), slot_get(handle, self.o_run), &out, &it
                    )
                    if status:  # suspended: await the rest, stepping it in the context
                        result = await suspended(
                            slot_get(handle, self.o_context), steal_ref(it), steal_ref(out)
                        )
                    else:  # finished without suspending (no wrapper, no StopIteration)
                        result = steal_ref(out)
                else:
                    deadline = asyncio.timeout(seconds)
                    async with deadline:
                        result = await lazy(
                            slot_get(handle, self.o_context), slot_get(handle, self.o_run)
                        )
            except CancelledError as exc:
                if handle.done():
                    return  # the handle was cancelled while running: this runner is detached
                if me.cancelling():
                    hooks.abandoned(handle)
                    raise
                hooks.attempt_failed(handle, exc, CANCELLED_ITSELF)
            except TimeoutError as exc:
                if handle.done():
                    return
                hooks.attempt_failed(
                    handle, exc,
                    TIMED_OUT if deadline is not None and deadline.expired() else RAISED,
                )
            except BaseException as exc:
                if handle.done():
                    return
                hooks.attempt_failed(handle, exc, RAISED)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                if slot_ptr(handle, self.o_runner) != <PyObject*>me:
                    return  # cancelled while running (discard took it from this runner)
                table.c_complete(ls.index)
                slot_set(handle, self.o_run, None)  # no more attempts: let them go now
                slot_set(handle, self.o_context, None)
                if tag > 0:
                    inflight.remove_auto(tag)
                elif tag < -1:
                    inflight.remove_numbered(-1 - tag)
                else:  # a named command, or a retry the shell queued again (no tag)
                    inflight.remove(slot_get(handle, self.o_command_id))
                if set_result is None:
                    handle.set_result(result)
                else:  # asyncio.Future.set_result itself, without looking it up on the handle
                    set_result(handle, result)
                if started:
                    record_sample(run_records[ls.index], (lanecore_monotonic() - started) * 1000.0)
                if PyList_GET_SIZE(rings) or PyList_GET_SIZE(filtered):
                    stamp = lanecore_event_clock()
                    self._emit(COMPLETED, handle, ls, stamp)
                if self.drain_wanted and not inflight.count:
                    hooks.drained()
            handle = None
            result = None

    def close(self):
        """Stop dispatching: park no more, release the idle runners; returns every runner
        (the caller cancels and awaits them)."""
        self.closed = True
        self.accepting = False
        for parked in self.idle:
            parked.cancel()
        self.idle.clear()
        return list(self.runners)
