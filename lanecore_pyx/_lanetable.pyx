# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True, cdivision=True, auto_pickle=False
"""Which pending command runs next (compiled twin of ``lanecore._lanetable_py``).

The table holds each lane's pending commands (FIFO), its active count and caps, and an index
of the lanes that could dispatch now, bucketed by effective priority (0..255). ``pop_ready``
takes the oldest command of the best dispatchable lane, serving lanes of one priority level
round-robin.

Layout: one C array of ``lane_t`` records (grown geometrically). Each lane keeps its pending
commands in a ring buffer of owned ``PyObject*`` addressed by ticket. The dispatch index has two
rings (ready, reserved); each is a 256-bit bitmap of non-empty levels plus, per level, an
intrusive circular doubly-linked list of lane indices whose head is the next lane to serve.
The list operations reproduce the twin's ``OrderedDict`` rings exactly: joining appends at the
tail, a dispatch moves the lane to the tail, leaving unlinks (a leaving head passes the turn to
its successor).

A lane may have a request bucket (one token per command) and a cost bucket (each command's
``push`` cost, kept in a third array beside the buffer only on such a lane); its oldest command
is dispatched only when both can pay, so a costly command is never overtaken within its lane.
Removed lanes' records go on a free list and ``add_lane`` reuses the most recently removed
index. Adding and removing a lane touches only that lane (with a global limit also the lanes
whose reservation changes: see the grants section), and throttled lanes are kept in an
intrusive list of their own, so neither dispatch nor token wake-ups walk every lane.

Pending items of ``untracked_type`` (the manager's command handles) are kept out of the cyclic
GC's young generations: ``push`` untracks them, every way out of the table (pop, remove,
take_all, release) tracks them again, and before each full (generation 2) collection a
``gc.callbacks`` hook tracks every item still pending. A young collection only ever collects
cycles wholly inside the young generations, so hiding pending items from it changes nothing it
could collect; a full collection sees every pending item as a tracked object, so every garbage
cycle through one is still found. A backlog of pending commands then costs the GC nothing until
a full collection. Free-threaded builds and CPython >= 3.14 (whose automatic collections are
incremental) keep pending items tracked.
"""

cimport cython
from cpython.bool cimport PyBool_Check
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.list cimport PyList_New
from cpython.long cimport PyLong_Check
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject
from libc.limits cimport LLONG_MAX
from libc.stdint cimport uint64_t
from libc.string cimport memset

from lanecore_pyx._bits cimport bits_clear, bits_first, bits_set
from lanecore_pyx._slots cimport slot_offset, steal_ref
from lanecore_pyx._clock cimport lanecore_monotonic
from lanecore_pyx._tokenbucket cimport (
    bucket_init,
    bucket_take,
    bucket_time_until,
    bucket_time_until_n,
    check_bucket_args,
    clock_now,
)

import contextvars
import functools
import gc
import types
import weakref

from lanecore import _coreapi

PRIORITY_LEVELS = 256
UNTRACKS_PENDING = bool(UNTRACK_PENDING)
"""Whether pending items of ``untracked_type`` are really untracked on this interpreter."""
_LANE_RECORD_SIZE = sizeof(lane_t)
"""Bytes of one lane's record in the lane array (an idle lane holds nothing else)."""

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    # the raw C API, with no exception handling added by Cython (callers check PyErr_Occurred)
    Py_ssize_t lc_as_ssize_t "PyLong_AsSsize_t"(object o) noexcept
    unsigned long long lc_as_u64 "PyLong_AsUnsignedLongLong"(object o) noexcept
    void lc_list_set_item "PyList_SET_ITEM"(object lst, Py_ssize_t i, PyObject* item) noexcept
    void lc_incref "Py_INCREF"(PyObject* o) noexcept
    void lc_decref "Py_DECREF"(PyObject* o) noexcept

cdef extern from *:
    """
    #if defined(Py_GIL_DISABLED) || PY_VERSION_HEX >= 0x030E0000
    #define LANECORE_UNTRACK_PENDING 0
    #else
    #define LANECORE_UNTRACK_PENDING 1
    #endif
    static CYTHON_INLINE int lanecore_type_is_gc(PyObject* t) { return PyType_IS_GC((PyTypeObject*)t); }
    """
    const bint UNTRACK_PENDING "LANECORE_UNTRACK_PENDING"
    bint type_is_gc "lanecore_type_is_gc"(PyObject* t) noexcept
    int lc_gc_is_tracked "PyObject_GC_IsTracked"(PyObject* o) noexcept
    void lc_gc_track "PyObject_GC_Track"(void* o) noexcept
    void lc_gc_untrack "PyObject_GC_UnTrack"(void* o) noexcept
    PyObject* lc_type_of "(PyObject*)Py_TYPE"(PyObject* o) noexcept

# The per-command objects the core makes (a context copy, a bound execute, a NamedCommand) or
# that users make per command (a partial): hidden with the handle holding them, in the slots
# named by untracked_slots. No other type is touched, so nothing is tracked that CPython meant
# to leave untracked.
cdef PyObject* COMPANION_TYPES[4]
COMPANION_TYPES[0] = <PyObject*>contextvars.Context
COMPANION_TYPES[1] = <PyObject*>types.MethodType
COMPANION_TYPES[2] = <PyObject*>functools.partial
COMPANION_TYPES[3] = <PyObject*>_coreapi.NamedCommand


cdef inline bint is_companion(PyObject* o) noexcept:
    cdef PyObject* t = lc_type_of(o)
    return (t == COMPANION_TYPES[0] or t == COMPANION_TYPES[1] or t == COMPANION_TYPES[2]
            or t == COMPANION_TYPES[3])


cdef inline void gc_hide(PyObject* o, hide_t* h) noexcept:
    """Untrack a tracked item of the hidden type, and its companions."""
    cdef int i
    cdef PyObject* c
    if not UNTRACK_PENDING or h.type == NULL or lc_type_of(o) != h.type:
        return
    if lc_gc_is_tracked(o):
        lc_gc_untrack(o)
    for i in range(h.n):
        c = (<PyObject**>((<char*>o) + h.off[i]))[0]
        if c != NULL and is_companion(c) and lc_gc_is_tracked(c):
            lc_gc_untrack(c)


cdef inline void gc_show(PyObject* o, hide_t* h) noexcept:
    """The reverse of gc_hide."""
    cdef int i
    cdef PyObject* c
    if not UNTRACK_PENDING or h.type == NULL or lc_type_of(o) != h.type:
        return
    if not lc_gc_is_tracked(o):
        lc_gc_track(o)
    for i in range(h.n):
        c = (<PyObject**>((<char*>o) + h.off[i]))[0]
        if c != NULL and is_companion(c) and not lc_gc_is_tracked(c):
            lc_gc_track(c)

# The GC hooks: the ring buffers hold references the generated tp_traverse cannot see.
ctypedef int (*lc_visitproc)(PyObject*, void*) noexcept
ctypedef int (*lc_traverseproc)(PyObject*, lc_visitproc, void*) noexcept
ctypedef int (*lc_inquiry)(PyObject*) noexcept

cdef extern from "Python.h":
    ctypedef struct lc_typeobject "PyTypeObject":
        lc_traverseproc tp_traverse
        lc_inquiry tp_clear

cdef enum:
    RING_MIN_CAP = 8        # a lane's first buffer
    RING_KEEP_CAP = 64      # an emptied buffer bigger than this is given back
    LANES_MIN_CAP = 8

# The reserve (the sum of every lane's unmet minimum) is a 64-bit count on every platform.
cdef long long MIN_CONCURRENCY_LIMIT = 0xFFFFFFFF


# ------------------------------------------------------------------ ring buffers
cdef inline int ring_grow(lane_t* L) except -1:
    """Double the lane's buffer (or allocate its first one); tickets keep their order. A lane
    with a cost bucket has a third array, of costs, in the same allocation."""
    cdef Py_ssize_t cap = L.cap * 2 if L.cap else RING_MIN_CAP
    cdef size_t slot_size = sizeof(PyObject*) + sizeof(long long)
    cdef PyObject** buf
    cdef uint64_t t, old_mask, new_mask
    cdef long long* tags
    cdef long long* costs = NULL
    if L.has_cost:
        slot_size += sizeof(long long)
    if L.cap > PY_SSIZE_T_MAX // (4 * <Py_ssize_t>slot_size):
        raise MemoryError()
    buf = <PyObject**>PyMem_Calloc(<size_t>cap, slot_size)
    if buf == NULL:
        raise MemoryError()
    tags = <long long*>(buf + cap)
    if L.has_cost:
        costs = tags + cap
    if L.buf != NULL:
        old_mask = <uint64_t>(L.cap - 1)
        new_mask = <uint64_t>(cap - 1)
        t = L.head
        while t != L.tail:
            buf[t & new_mask] = L.buf[t & old_mask]
            tags[t & new_mask] = L.tags[t & old_mask]
            if costs != NULL:
                costs[t & new_mask] = L.costs[t & old_mask]
            t += 1
        PyMem_Free(L.buf)
    L.buf = buf
    L.tags = tags
    L.costs = costs
    L.cap = cap
    return 0


cdef inline void ring_emptied(lane_t* L) noexcept:
    """pending just reached 0 (every slot is NULL): restart at the tail, give a big buffer back."""
    L.head = L.tail
    if L.cap > RING_KEEP_CAP:
        PyMem_Free(L.buf)
        L.buf = NULL
        L.tags = NULL
        L.costs = NULL
        L.cap = 0


cdef inline void ring_skip_tombstones(lane_t* L) noexcept:
    """Advance head past removed slots (pending > 0, so a live slot follows)."""
    cdef uint64_t mask = <uint64_t>(L.cap - 1)
    while L.buf[L.head & mask] == NULL:
        L.head += 1


cdef inline PyObject* ring_pop(lane_t* L) noexcept:
    """Take the oldest command (pending > 0); the caller owns the returned reference."""
    cdef uint64_t slot = L.head & <uint64_t>(L.cap - 1)
    cdef PyObject* item = L.buf[slot]
    L.buf[slot] = NULL
    L.head += 1
    L.pending -= 1
    if L.pending == 0:
        ring_emptied(L)
    else:
        ring_skip_tombstones(L)
    return item


cdef inline void ring_release(lane_t* L, hide_t* hide) noexcept:
    """Drop every reference in the buffer and free it (the lane must be detached already)."""
    cdef uint64_t t = L.head
    cdef uint64_t mask = <uint64_t>(L.cap - 1)
    cdef PyObject* item
    if L.buf == NULL:
        return
    while t != L.tail:
        item = L.buf[t & mask]
        if item != NULL:
            L.buf[t & mask] = NULL
            gc_show(item, hide)
            lc_decref(item)
        t += 1
    PyMem_Free(L.buf)
    L.buf = NULL
    L.tags = NULL
    L.costs = NULL
    L.cap = 0


# ------------------------------------------------------------------ a lane's buckets
cdef inline long long head_cost(lane_t* L) noexcept:
    """The cost of the lane's oldest pending command (a lane with a cost bucket, pending > 0)."""
    return L.costs[L.head & <uint64_t>(L.cap - 1)]


cdef inline double lane_wait(lane_t* L, double now) noexcept:
    """Seconds from ``now`` until every bucket of the lane can pay for its oldest command (the
    request bucket one token, the cost bucket the command's cost); 0.0: they can now. Both
    buckets are refilled, in that order, as the twin does."""
    cdef double wait = 0.0
    cdef double cost_wait
    if L.has_bucket:
        wait = bucket_time_until(&L.bucket, now)
    if L.has_cost and L.pending:
        cost_wait = bucket_time_until_n(&L.cost_bucket, now, <double>head_cost(L))
        if cost_wait > wait:
            wait = cost_wait
    return wait


cdef inline void lane_pay(lane_t* L) noexcept:
    """Spend what the oldest command costs (lane_wait() found it available just now)."""
    if L.has_bucket:
        bucket_take(&L.bucket, 1.0)
    if L.has_cost:
        bucket_take(&L.cost_bucket, <double>head_cost(L))


# ---------------------------------------------------------------- argument checks
cdef int _check_untracked_type(object untracked_type) except -1:
    if untracked_type is None:
        return 0
    if not isinstance(untracked_type, type):
        raise TypeError(f"untracked_type must be a type or None, got {untracked_type!r}")
    if not type_is_gc(<PyObject*>untracked_type):
        raise TypeError(
            f"untracked_type must be a type the cyclic GC tracks, got {untracked_type!r}"
        )
    return 0


cdef list _check_untracked_slots(object untracked_type, object untracked_slots):
    """The offsets of the named __slots__ of untracked_type (at most 4)."""
    if isinstance(untracked_slots, str) or not isinstance(untracked_slots, (tuple, list)):
        raise TypeError(f"untracked_slots must be a tuple of slot names, got {untracked_slots!r}")
    if untracked_slots and untracked_type is None:
        raise ValueError("untracked_slots needs an untracked_type")
    if len(untracked_slots) > 4:
        raise ValueError(f"at most 4 untracked_slots, got {len(untracked_slots)}")
    return [slot_offset(untracked_type, name) for name in untracked_slots]


cdef int _check_priority(object priority) except -1:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, got {priority!r}")
    if not 0 <= priority < LEVELS:
        raise ValueError(f"priority must be in 0..255, got {priority}")
    return 0


cdef int _check_count(str name, object value) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return 0


cdef int _check_cost(object cost) except -1:
    if isinstance(cost, bool) or not isinstance(cost, int):
        raise TypeError(f"cost must be an int, got {cost!r}")
    if not 1 <= cost <= LLONG_MAX:
        raise ValueError(f"cost must be an int from 1 to 2**63 - 1, got {cost!r}")
    return 0


cdef int _check_cost_bucket_args(object capacity, object per_second) except -1:
    """check_bucket_args, its messages naming cost_capacity and cost_per_second."""
    try:
        check_bucket_args(capacity, per_second)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"cost_{exc}") from None
    return 0


cdef inline bint cost_fits(long long cost, double capacity) noexcept:
    """cost <= capacity, exactly (cost >= 1, capacity >= 1)."""
    return capacity >= 9223372036854775808.0 or cost <= <long long>capacity


cdef class LaneTable:
    """Lanes, their pending commands and the dispatch index; no asyncio, no clock of its own."""

    def __cinit__(self):
        self._global_limit = 0
        self._untracked_type = None
        self._hide.type = NULL
        self._hide.n = 0
        self._reset()

    @cython.critical_section
    def __init__(self, global_limit=0, clock=None, untracked_type=None, untracked_slots=()):
        if isinstance(global_limit, bool) or not isinstance(global_limit, int):
            raise TypeError(f"global_limit must be an int, got {global_limit!r}")
        if global_limit < 0:
            raise ValueError(f"global_limit must be >= 0 (0 = no limit), got {global_limit}")
        _check_untracked_type(untracked_type)
        slots = _check_untracked_slots(untracked_type, untracked_slots)
        self._release()  # calling __init__ again starts from an empty table, as in the twin
        self._global_limit = global_limit
        # (the limit is only compared with counts far below LLONG_MAX: saturating changes nothing)
        self._limit = LLONG_MAX if global_limit > LLONG_MAX else <long long>global_limit
        self._clock = clock
        self._untracked_type = untracked_type
        self._hide.type = NULL
        self._hide.n = 0
        if untracked_type is not None and UNTRACK_PENDING:
            for offset in slots:
                self._hide.off[self._hide.n] = offset
                self._hide.n += 1
            self._hide.type = <PyObject*>untracked_type
            _watch_full_collections(self)

    def __dealloc__(self):
        self._release()

    @cython.final
    cdef void _reset(self) noexcept:
        """An empty table (forgets the lane array without freeing it)."""
        self._lanes = NULL
        self._top = 0
        self._count = 0
        self._allocated = 0
        self._free = -1
        self._total_active = 0
        self._total_pending = 0
        self._reserve = 0
        self._throttled_count = 0
        self._throttled_head = -1
        self._throttled_tail = -1
        self._cut = -1
        self._granted_sum = 0
        memset(self._bits, 0, sizeof(self._bits))
        memset(self._heads, 0xFF, sizeof(self._heads))  # every head -1: empty level
        memset(self._khead, 0xFF, sizeof(self._khead))
        memset(self._ktail, 0xFF, sizeof(self._ktail))

    @cython.final
    cdef void _release(self) noexcept:
        """Empty the table, then drop the commands it held (which may run arbitrary code)."""
        cdef lane_t* lanes = self._lanes
        cdef Py_ssize_t top = self._top
        cdef Py_ssize_t i
        self._reset()
        if lanes == NULL:
            return
        for i in range(top):
            ring_release(&lanes[i], &self._hide)
        PyMem_Free(lanes)

    @cython.final
    cdef void _track_pending(self) noexcept:
        """Track every pending item again (before a full collection, which must see them)."""
        if self._hide.type != NULL:
            each_pending(self, _show_item, <void*>&self._hide)

    @property
    def untracked_type(self):
        """Pending items of exactly this type are kept out of the young GC generations."""
        return self._untracked_type

    # ----------------------------------------------------------------- lanes
    @cython.critical_section
    def add_lane(
        self,
        priority,
        min_concurrency,
        max_concurrency,
        rate_capacity=0.0,
        rate_per_second=0.0,
        cost_capacity=0.0,
        cost_per_second=0.0,
    ):
        """Add a lane and return its index: the most recently removed lane's index if there
        is one, else the next unused one. A rate (or cost) per second and capacity of 0 mean
        no request (or cost) bucket; a cost bucket pays each command's push() cost."""
        cdef bint has_bucket = False, has_cost = False
        cdef double capacity = 0.0, rate = 0.0, cost_cap = 0.0, cost_rate = 0.0, now = 0.0
        cdef Py_ssize_t lane, allocated, max_conc
        cdef lane_t* lanes
        cdef lane_t* L
        _check_priority(priority)
        _check_count("min_concurrency", min_concurrency)
        _check_count("max_concurrency", max_concurrency)
        if min_concurrency < 0:
            raise ValueError(f"min_concurrency must be >= 0, got {min_concurrency}")
        if max_concurrency < min_concurrency:
            raise ValueError(
                f"max_concurrency ({max_concurrency}) must be >= min_concurrency ({min_concurrency})"
            )
        if max_concurrency < 1:  # (with min 0: a lane that could never run)
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if min_concurrency > MIN_CONCURRENCY_LIMIT:
            raise OverflowError(
                f"min_concurrency must be < 2**32 in the compiled core, got {min_concurrency}"
            )
        # (max_concurrency is only compared with the active count: saturating it changes nothing)
        max_conc = PY_SSIZE_T_MAX if max_concurrency > PY_SSIZE_T_MAX else <Py_ssize_t>max_concurrency
        if rate_per_second != 0.0 or rate_capacity != 0.0:
            check_bucket_args(rate_capacity, rate_per_second)
            capacity = float(rate_capacity)
            rate = float(rate_per_second)
            has_bucket = True
        if cost_per_second != 0.0 or cost_capacity != 0.0:
            _check_cost_bucket_args(cost_capacity, cost_per_second)
            cost_cap = float(cost_capacity)
            cost_rate = float(cost_per_second)
            has_cost = True
        if has_bucket or has_cost:
            now = self._now()  # (one reading for both buckets, as in the twin)
        if self._free < 0 and self._top == self._allocated:
            allocated = self._allocated * 2 if self._allocated else LANES_MIN_CAP
            if self._allocated > PY_SSIZE_T_MAX // (2 * <Py_ssize_t>sizeof(lane_t)):
                raise MemoryError()
            lanes = <lane_t*>PyMem_Realloc(self._lanes, <size_t>allocated * sizeof(lane_t))
            if lanes == NULL:
                raise MemoryError()
            self._lanes = lanes
            self._allocated = allocated
        if self._free >= 0:
            lane = self._free
            self._free = self._lanes[lane].knext
        else:
            lane = self._top
            self._top = lane + 1
        L = &self._lanes[lane]
        memset(L, 0, sizeof(lane_t))
        L.live = True
        L.base = <int>priority
        L.prio = L.base
        L.min_conc = <long long>min_concurrency
        L.max_conc = max_conc
        L.tnext = L.tprev = L.knext = L.kprev = -1
        if has_bucket:
            L.has_bucket = True
            bucket_init(&L.bucket, capacity, rate, now)
        if has_cost:
            L.has_cost = True
            bucket_init(&L.cost_bucket, cost_cap, cost_rate, now)
        self._count += 1
        if self._limit:
            self._grant_added(lane)
        else:  # without a global limit every lane is granted its minimum
            L.granted = L.min_conc
        self._refresh(lane)
        return lane

    @cython.critical_section
    def remove_lane(self, lane):
        """Remove an idle lane (nothing pending, nothing active); its index is invalid until
        add_lane reuses it. Reservations are granted again as if it had never been added."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef lane_t* L = &self._lanes[index]
        if L.pending or L.active:
            raise ValueError(
                f"lane {index} has {L.pending} pending and {L.active} active commands: "
                "only an idle lane can be removed"
            )
        if L.throttled:
            self._unthrottle(index)
        self._unlink(index)
        if self._limit:
            self._grant_removed(index)
        # (nothing pending: the lane holds no reservation and its buffer holds no reference)
        PyMem_Free(L.buf)
        memset(L, 0, sizeof(lane_t))
        L.knext = self._free
        L.tnext = L.tprev = L.kprev = -1
        self._free = index
        self._count -= 1

    @cython.critical_section
    def has_lane(self, lane):
        """Whether ``lane`` is the index of a lane (added and not removed)."""
        cdef Py_ssize_t index
        if not PyLong_Check(lane) or PyBool_Check(lane):
            raise TypeError(f"lane must be an int, got {lane!r}")
        index = lc_as_ssize_t(lane)
        if index == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
            return False
        return 0 <= index < self._top and <bint>self._lanes[index].live

    @cython.critical_section
    def lane_indices(self):
        """The indices of the lanes, ascending."""
        cdef Py_ssize_t i
        return [i for i in range(self._top) if self._lanes[i].live]

    # ------------------------------------------------------------ grants
    # With a global limit, lanes are granted their min_concurrency in grant order (base
    # priority, then the order added) while the running sum fits the limit: every lane before
    # the cut is granted, the cut and every lane after it are not. _granted_sum <= limit, and
    # the cut is -1 or _granted_sum + its min_concurrency > limit. Adding or removing a lane
    # moves the cut step by step, each step one lane whose grant changes, so only those lanes
    # are refreshed.
    @cython.final
    cdef Py_ssize_t _grant_next(self, Py_ssize_t lane) noexcept:
        """The lane after ``lane`` in grant order, or -1."""
        cdef int level
        if self._lanes[lane].knext >= 0:
            return self._lanes[lane].knext
        for level in range(self._lanes[lane].base + 1, LEVELS):
            if self._khead[level] >= 0:
                return self._khead[level]
        return -1

    @cython.final
    cdef Py_ssize_t _grant_prev(self, Py_ssize_t lane) noexcept:
        """The lane before ``lane`` in grant order (lane -1: the last lane), or -1."""
        cdef int level = LEVELS
        if lane >= 0:
            if self._lanes[lane].kprev >= 0:
                return self._lanes[lane].kprev
            level = self._lanes[lane].base
        while level > 0:
            level -= 1
            if self._ktail[level] >= 0:
                return self._ktail[level]
        return -1

    @cython.final
    cdef void _set_grant(self, Py_ssize_t lane, bint granted) noexcept:
        cdef lane_t* L = &self._lanes[lane]
        L.before_cut = granted
        L.granted = L.min_conc if granted else 0
        self._refresh(lane)

    @cython.final
    cdef void _grant_added(self, Py_ssize_t lane) noexcept:
        """Link a new lane at the end of its base priority's grant order; move the cut back
        over the lanes that no longer fit."""
        cdef lane_t* L = &self._lanes[lane]
        cdef int level = L.base
        cdef Py_ssize_t tail = self._ktail[level]
        cdef Py_ssize_t cut = self._cut
        L.kprev = tail
        L.knext = -1
        if tail >= 0:
            self._lanes[tail].knext = lane
        else:
            self._khead[level] = lane
        self._ktail[level] = lane
        # the lane is last of its level: before the cut only if the cut is at a later level
        if cut >= 0 and self._lanes[cut].base <= level:
            L.before_cut = False
            L.granted = 0
            return
        L.before_cut = True
        L.granted = L.min_conc
        self._granted_sum += L.min_conc
        while self._granted_sum > self._limit:
            cut = self._grant_prev(cut)
            self._granted_sum -= self._lanes[cut].min_conc
            self._set_grant(cut, False)
        self._cut = cut

    @cython.final
    cdef void _grant_removed(self, Py_ssize_t lane) noexcept:
        """Unlink a lane from the grant order; move the cut on over the lanes that now fit."""
        cdef lane_t* L = &self._lanes[lane]
        cdef Py_ssize_t cut = self._cut
        cdef Py_ssize_t nxt = self._grant_next(lane)
        if cut == lane:
            cut = nxt
        elif L.before_cut:
            self._granted_sum -= L.min_conc
        else:
            cut = -2  # after the cut: no lane's grant changes
        if L.kprev >= 0:
            self._lanes[L.kprev].knext = L.knext
        else:
            self._khead[L.base] = L.knext
        if L.knext >= 0:
            self._lanes[L.knext].kprev = L.kprev
        else:
            self._ktail[L.base] = L.kprev
        if cut == -2:
            return
        while cut >= 0 and self._granted_sum + self._lanes[cut].min_conc <= self._limit:
            self._granted_sum += self._lanes[cut].min_conc
            self._set_grant(cut, True)
            cut = self._grant_next(cut)
        self._cut = cut

    @cython.final
    cdef Py_ssize_t _lane_index(self, object lane) except -1:
        cdef Py_ssize_t index
        if not PyLong_Check(lane) or PyBool_Check(lane):
            raise TypeError(f"lane must be an int, got {lane!r}")
        index = lc_as_ssize_t(lane)
        if index == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()  # too big for Py_ssize_t: no such lane either
        if index < 0 or index >= self._top or not self._lanes[index].live:
            raise IndexError(f"no lane with index {lane}")
        return index

    @cython.final
    cdef double _now(self) except? -1.0:
        return clock_now(self._clock)

    # ------------------------------------------------------------ the index
    @cython.final
    cdef void _join(self, int ring, Py_ssize_t lane) noexcept:
        """Append the lane at the tail of its level's ring (just before the head)."""
        cdef lane_t* lanes = self._lanes
        cdef lane_t* L = &lanes[lane]
        cdef int level = L.prio
        cdef Py_ssize_t head = self._heads[ring][level]
        cdef Py_ssize_t tail
        if head < 0:
            self._heads[ring][level] = lane
            L.next[ring] = lane
            L.prev[ring] = lane
            bits_set(self._bits[ring], level)
        else:
            tail = lanes[head].prev[ring]
            L.prev[ring] = tail
            L.next[ring] = head
            lanes[tail].next[ring] = lane
            lanes[head].prev[ring] = lane
        L.in_ring[ring] = True

    @cython.final
    cdef void _leave(self, int ring, Py_ssize_t lane) noexcept:
        """Unlink the lane from its level's ring; a leaving head passes the turn to its next."""
        cdef lane_t* lanes = self._lanes
        cdef lane_t* L = &lanes[lane]
        cdef int level = L.prio
        cdef Py_ssize_t nxt = L.next[ring]
        cdef Py_ssize_t prv
        if nxt == lane:
            self._heads[ring][level] = -1
            bits_clear(self._bits[ring], level)
        else:
            prv = L.prev[ring]
            lanes[prv].next[ring] = nxt
            lanes[nxt].prev[ring] = prv
            if self._heads[ring][level] == lane:
                self._heads[ring][level] = nxt
        L.in_ring[ring] = False

    @cython.final
    cdef void _to_back(self, int ring, Py_ssize_t lane) noexcept:
        """Move the lane to the tail of its ring (OrderedDict.move_to_end)."""
        cdef lane_t* lanes = self._lanes
        cdef lane_t* L = &lanes[lane]
        cdef int level = L.prio
        cdef Py_ssize_t head = self._heads[ring][level]
        if head == lane:
            self._heads[ring][level] = L.next[ring]  # circular: the old head becomes the tail
        elif lanes[head].prev[ring] != lane:
            self._leave(ring, lane)
            self._join(ring, lane)

    @cython.final
    cdef void _refresh(self, Py_ssize_t lane) noexcept:
        """Bring the lane's index membership and reservation in line with its state."""
        cdef lane_t* L = &self._lanes[lane]
        cdef bint ready = (
            L.pending > 0 and L.active < L.max_conc and not L.paused and not L.throttled
        )
        cdef bint reserved = ready and L.active < L.granted
        cdef long long unmet = 0
        if ready != L.in_ring[RING_READY]:
            if ready:
                self._join(RING_READY, lane)
            else:
                self._leave(RING_READY, lane)
        if not self._limit:  # without a global limit no lane needs slots held back for it
            return
        if reserved != L.in_ring[RING_RESERVED]:
            if reserved:
                self._join(RING_RESERVED, lane)
            else:
                self._leave(RING_RESERVED, lane)
        # paused and throttled lanes hold no reservation: others may use those slots meanwhile
        if L.pending > 0 and not L.paused and not L.throttled and L.active < L.granted:
            unmet = L.granted - L.active
        self._reserve += unmet - L.unmet
        L.unmet = unmet

    @cython.final
    cdef void _unlink(self, Py_ssize_t lane) noexcept:
        cdef lane_t* L = &self._lanes[lane]
        if L.in_ring[RING_READY]:
            self._leave(RING_READY, lane)
        if L.in_ring[RING_RESERVED]:
            self._leave(RING_RESERVED, lane)

    @cython.final
    cdef void _rotate(self, Py_ssize_t lane) noexcept:
        cdef lane_t* L = &self._lanes[lane]
        if L.in_ring[RING_READY]:
            self._to_back(RING_READY, lane)
        if L.in_ring[RING_RESERVED]:
            self._to_back(RING_RESERVED, lane)

    @cython.final
    cdef void _throttle(self, Py_ssize_t lane) noexcept:
        """Its buckets cannot pay for the lane's oldest command: it waits at the end of the
        throttled lanes, out of the dispatch index, until wake_throttled finds them able."""
        cdef lane_t* L = &self._lanes[lane]
        L.throttled = True
        L.tnext = -1
        L.tprev = self._throttled_tail
        if self._throttled_tail >= 0:
            self._lanes[self._throttled_tail].tnext = lane
        else:
            self._throttled_head = lane
        self._throttled_tail = lane
        self._throttled_count += 1
        self._refresh(lane)

    @cython.final
    cdef void _unthrottle(self, Py_ssize_t lane) noexcept:
        cdef lane_t* L = &self._lanes[lane]
        if L.tprev >= 0:
            self._lanes[L.tprev].tnext = L.tnext
        else:
            self._throttled_head = L.tnext
        if L.tnext >= 0:
            self._lanes[L.tnext].tprev = L.tprev
        else:
            self._throttled_tail = L.tprev
        L.tnext = L.tprev = -1
        L.throttled = False
        self._throttled_count -= 1
        self._refresh(lane)

    # ------------------------------------------------------------- commands
    @cython.critical_section
    def push(self, lane, item, cost=1):
        """Append item to the lane's FIFO and return its ticket (for ``remove``). On a lane
        with a cost bucket the command costs ``cost`` (at most the bucket's capacity) when it
        is dispatched; elsewhere the cost is ignored."""
        cdef Py_ssize_t index = self._lane_index(lane)
        if item is None:
            raise TypeError("item must not be None")
        _check_cost(cost)
        return self.c_push_costed(index, item, -1, <long long>cost)

    @cython.final
    cdef uint64_t c_push(self, Py_ssize_t index, object item) except? 0xFFFFFFFFFFFFFFFF:
        """push() for C callers that checked the lane index and that item is not None."""
        return self.c_push_costed(index, item, -1, 1)

    cdef uint64_t c_push_tagged(
        self, Py_ssize_t index, object item, long long tag
    ) except? 0xFFFFFFFFFFFFFFFF:
        """c_push, keeping ``tag`` with the item: c_pop_ready_tagged hands it back (a C
        caller's note about the item it need not read from the item itself; -1: none)."""
        return self.c_push_costed(index, item, tag, 1)

    @cython.final
    cdef uint64_t c_push_costed(
        self, Py_ssize_t index, object item, long long tag, long long cost
    ) except? 0xFFFFFFFFFFFFFFFF:
        """c_push_tagged of a command costing ``cost`` (>= 1; ValueError above the lane's
        cost capacity, and nothing pushed); the cost is kept only on a lane with a cost bucket."""
        cdef lane_t* L = &self._lanes[index]
        cdef uint64_t ticket, slot
        if cost < 1:
            raise ValueError(f"cost must be an int from 1 to 2**63 - 1, got {cost}")
        if L.has_cost and not cost_fits(cost, L.cost_bucket.capacity):
            raise ValueError(
                f"cost {cost} is above the cost capacity of lane {index} "
                f"({L.cost_bucket.capacity!r}): it could never run"
            )
        if L.tail - L.head == <uint64_t>L.cap:
            ring_grow(L)
        ticket = L.tail
        slot = ticket & <uint64_t>(L.cap - 1)
        L.buf[slot] = <PyObject*>item
        L.tags[slot] = tag
        if L.has_cost:
            L.costs[slot] = cost
        lc_incref(<PyObject*>item)
        gc_hide(<PyObject*>item, &self._hide)
        L.tail = ticket + 1
        L.pending += 1
        self._total_pending += 1
        self._refresh(index)
        return ticket

    @cython.critical_section
    def pop_ready(self):
        """Take the next command to run (counting it active), or None if nothing may run now."""
        return self.c_pop_ready()

    @cython.final
    cdef object c_pop_ready(self):
        """pop_ready() for C callers."""
        cdef long long tag
        return self.c_pop_ready_tagged(&tag)

    @cython.final
    cdef Py_ssize_t _pick(self) noexcept:
        """The lane pop_ready serves next, before its buckets are asked; -1: none may run."""
        cdef long long free
        cdef int ring = RING_READY
        cdef int level
        if self._limit:
            free = self._limit - self._total_active
            if free <= 0:
                return -1
            if free <= self._reserve:
                ring = RING_RESERVED
        level = bits_first(self._bits[ring])
        if level < 0:
            return -1
        return self._heads[ring][level]

    @cython.final
    cdef object c_pop_ready_tagged(self, long long* tag):
        """c_pop_ready, setting ``*tag`` to the popped item's tag (c_push_tagged; -1: none)."""
        cdef Py_ssize_t lane
        cdef lane_t* L
        cdef PyObject* item
        cdef double now
        while True:
            lane = self._pick()
            if lane < 0:
                return None
            L = &self._lanes[lane]
            if L.has_bucket or L.has_cost:
                if self._clock is None:
                    now = lanecore_monotonic()
                else:
                    now = clock_now(self._clock)
                    # the Python clock may have used this table: choose again if it changed
                    if self._pick() != lane:
                        continue
                    L = &self._lanes[lane]
                if lane_wait(L, now) != 0.0:
                    self._throttle(lane)
                    continue
                lane_pay(L)
            tag[0] = L.tags[L.head & <uint64_t>(L.cap - 1)]
            item = ring_pop(L)
            gc_show(item, &self._hide)
            self._total_pending -= 1
            L.active += 1
            self._total_active += 1
            self._rotate(lane)
            self._refresh(lane)
            return steal_ref(item)

    @cython.critical_section
    def can_pop(self):
        """Whether some lane may dispatch now (before rate limits, which pop_ready checks)."""
        return self.c_can_pop()

    @cython.final
    cdef bint c_can_pop(self) noexcept:
        """can_pop() for C callers."""
        cdef long long free
        cdef int ring = RING_READY
        if self._limit:
            free = self._limit - self._total_active
            if free <= 0:
                return False
            if free <= self._reserve:
                ring = RING_RESERVED
        return bits_first(self._bits[ring]) >= 0

    @cython.critical_section
    def complete(self, lane):
        """Free one active slot of the lane."""
        self.c_complete(self._lane_index(lane))

    @cython.final
    cdef int c_complete(self, Py_ssize_t index) except -1:
        """complete() for C callers that checked the lane index."""
        cdef lane_t* L = &self._lanes[index]
        if L.active == 0:
            raise ValueError(f"lane {index} has no active command to complete")
        L.active -= 1
        L.completions += 1
        self._total_active -= 1
        self._refresh(index)

    @cython.critical_section
    def remove(self, lane, ticket):
        """Drop the pending command with this ticket; return it, or None if it is not pending.
        Removing the oldest command of a throttled lane with a cost bucket un-throttles it
        (the next one may cost less)."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef lane_t* L
        cdef uint64_t t, slot
        cdef PyObject* item
        cdef bint was_head
        if not PyLong_Check(ticket) or PyBool_Check(ticket):
            raise TypeError(f"ticket must be an int, got {ticket!r}")
        t = lc_as_u64(ticket)
        if t == <uint64_t>-1 and PyErr_Occurred() != NULL:
            PyErr_Clear()  # negative or beyond 64 bits: never a ticket
            return None
        L = &self._lanes[index]
        if t < L.head or t >= L.tail:
            return None
        slot = t & <uint64_t>(L.cap - 1)
        item = L.buf[slot]
        if item == NULL:
            return None
        L.buf[slot] = NULL
        gc_show(item, &self._hide)
        was_head = t == L.head
        L.pending -= 1
        if L.pending == 0:
            ring_emptied(L)
        elif was_head:
            ring_skip_tombstones(L)
        self._total_pending -= 1
        if was_head and L.throttled and L.has_cost:
            self._unthrottle(index)
        else:
            self._refresh(index)
        return steal_ref(item)

    @cython.critical_section
    def take_all(self, lane):
        """Remove and return every pending command of the lane, oldest first (a throttled
        lane with a cost bucket is un-throttled, as by removing its oldest command)."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef Py_ssize_t n, j
        cdef lane_t* L
        cdef uint64_t t, mask
        cdef PyObject* item
        cdef list items
        while True:
            n = self._lanes[index].pending
            items = PyList_New(n)
            # allocating may run the GC and finalizers that use this table: check again
            if self._lanes[index].live and self._lanes[index].pending == n:
                break
            if not self._lanes[index].live:
                raise IndexError(f"no lane with index {lane}")
        L = &self._lanes[index]
        if n:
            mask = <uint64_t>(L.cap - 1)
            t = L.head
            j = 0
            while j < n:
                item = L.buf[t & mask]
                if item != NULL:
                    L.buf[t & mask] = NULL
                    gc_show(item, &self._hide)
                    lc_list_set_item(items, j, item)  # steals the buffer's reference
                    j += 1
                t += 1
            L.pending = 0
            ring_emptied(L)
            self._total_pending -= n
            if L.throttled and L.has_cost:
                self._unthrottle(index)
        self._refresh(index)
        return items

    @cython.critical_section
    def peek(self, lane):
        """The lane's oldest pending command, or None."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef lane_t* L = &self._lanes[index]
        if L.pending:
            return <object>L.buf[L.head & <uint64_t>(L.cap - 1)]
        return None

    @cython.critical_section
    def head_cost(self, lane):
        """The cost of the lane's oldest pending command; 0 if none is pending or the lane has
        no cost bucket (costs are kept only there)."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef lane_t* L = &self._lanes[index]
        if L.pending and L.has_cost:
            return head_cost(L)
        return 0

    # ---------------------------------------------------------- lane state
    @cython.critical_section
    def pause(self, lane):
        """Stop dispatching from the lane (running commands are unaffected)."""
        cdef Py_ssize_t index = self._lane_index(lane)
        self._lanes[index].paused = True
        self._refresh(index)

    @cython.critical_section
    def resume(self, lane):
        """Dispatch from the lane again."""
        cdef Py_ssize_t index = self._lane_index(lane)
        self._lanes[index].paused = False
        self._refresh(index)

    @cython.critical_section
    def is_paused(self, lane):
        cdef Py_ssize_t index = self._lane_index(lane)
        return <bint>self._lanes[index].paused

    @cython.critical_section
    def set_priority(self, lane, priority):
        """Set the lane's effective priority; it joins the back of its new level's rotation."""
        cdef Py_ssize_t index = self._lane_index(lane)
        cdef int level
        _check_priority(priority)
        level = <int>priority
        if level == self._lanes[index].prio:
            return
        self._unlink(index)
        self._lanes[index].prio = level
        self._refresh(index)

    @cython.critical_section
    def priority(self, lane):
        """Effective priority (base priority unless boosted)."""
        cdef Py_ssize_t index = self._lane_index(lane)
        return self._lanes[index].prio

    @cython.critical_section
    def base_priority(self, lane):
        cdef Py_ssize_t index = self._lane_index(lane)
        return self._lanes[index].base

    @cython.critical_section
    def pending(self, lane):
        cdef Py_ssize_t index = self._lane_index(lane)
        return self._lanes[index].pending

    @cython.critical_section
    def active(self, lane):
        cdef Py_ssize_t index = self._lane_index(lane)
        return self._lanes[index].active

    @cython.critical_section
    def pushes(self, lane):
        """Commands pushed onto the lane so far (its next ticket)."""
        return self._lanes[self._lane_index(lane)].tail

    @cython.critical_section
    def completions(self, lane):
        """complete() calls on the lane so far."""
        return self._lanes[self._lane_index(lane)].completions

    @cython.critical_section
    def is_throttled(self, lane):
        cdef Py_ssize_t index = self._lane_index(lane)
        return <bint>self._lanes[index].throttled

    @cython.critical_section
    def reservation(self, lane):
        """Slots the global limit grants this lane (its min_concurrency, or 0 where the limit
        is below the total minimum of it and the lanes before it: by base priority, then in
        the order added); held only while the lane has pending work and is neither paused
        nor throttled."""
        cdef Py_ssize_t index = self._lane_index(lane)
        return self._lanes[index].granted

    @cython.critical_section
    def cost_limited(self, lane):
        """Whether the lane has a cost bucket."""
        cdef Py_ssize_t index = self._lane_index(lane)
        return <bint>self._lanes[index].has_cost

    @cython.critical_section
    def cost_capacity(self, lane):
        """The capacity of the lane's cost bucket (the highest cost it takes); 0.0: none."""
        cdef Py_ssize_t index = self._lane_index(lane)
        if self._lanes[index].has_cost:
            return self._lanes[index].cost_bucket.capacity
        return 0.0

    # ---------------------------------------------------------- rate limits
    @cython.critical_section
    def next_token_delay(self):
        """Seconds until the first throttled lane can pay for its oldest command (both its
        buckets); -1.0 if no lane is throttled."""
        cdef double best = -1.0
        cdef double delay, now
        cdef Py_ssize_t lane
        if self._throttled_count:
            now = self._now()  # first: a Python clock may change the table
            lane = self._throttled_head
            while lane >= 0:
                delay = lane_wait(&self._lanes[lane], now)
                if best < 0.0 or delay < best:
                    best = delay
                lane = self._lanes[lane].tnext
        return best

    @cython.critical_section
    def wake_throttled(self):
        """Make every throttled lane that can now pay for its oldest command dispatchable
        again, in the order they were throttled; return how many."""
        cdef Py_ssize_t woken = 0
        cdef Py_ssize_t lane, nxt
        cdef double now
        if self._throttled_count:
            now = self._now()  # first: a Python clock may change the table
            lane = self._throttled_head
            while lane >= 0:
                nxt = self._lanes[lane].tnext
                if lane_wait(&self._lanes[lane], now) == 0.0:
                    self._unthrottle(lane)
                    woken += 1
                lane = nxt
        return woken

    # ---------------------------------------------------------------- totals
    @property
    def lane_count(self):
        """Lanes added and not removed."""
        return self._count

    @property
    def total_pending(self):
        return self._total_pending

    @property
    def total_active(self):
        return self._total_active

    @property
    def global_limit(self):
        return self._global_limit

    @property
    def reserved_slots(self):
        """Slots held back for lanes with dispatchable pending work that run fewer than their
        granted reservation."""
        cdef Py_ssize_t i
        cdef long long total = 0
        cdef lane_t* L
        if self._limit:
            return self._reserve
        for i in range(self._top):  # (not kept up to date without a global limit)
            L = &self._lanes[i]
            if L.pending > 0 and not L.paused and not L.throttled and L.active < L.granted:
                total += L.granted - L.active
        return total

    @property
    def throttled_count(self):
        return self._throttled_count


# ------------------------------------------------------------------ GC support
cdef lc_traverseproc _base_traverse = (<lc_typeobject*>LaneTable).tp_traverse
cdef lc_inquiry _base_clear = (<lc_typeobject*>LaneTable).tp_clear


cdef int each_pending(LaneTable table, lc_visitproc visit, void* arg) noexcept:
    """visit(item, arg) for every pending item, oldest first per lane; stops at (and returns)
    the first non-zero result."""
    cdef int r
    cdef Py_ssize_t i
    cdef lane_t* L
    cdef uint64_t t, mask
    cdef PyObject* item
    for i in range(table._top):
        L = &table._lanes[i]
        if L.pending:
            mask = <uint64_t>(L.cap - 1)
            t = L.head
            while t != L.tail:
                item = L.buf[t & mask]
                if item != NULL:
                    r = visit(item, arg)
                    if r:
                        return r
                t += 1
    return 0


cdef int _show_item(PyObject* item, void* hide) noexcept:
    gc_show(item, <hide_t*>hide)
    return 0


cdef int _lanetable_traverse(PyObject* o, lc_visitproc visit, void* arg) noexcept:
    """Visit the generated fields, then every pending command."""
    cdef int r
    if _base_traverse != NULL:
        r = _base_traverse(o, visit, arg)
        if r:
            return r
    return each_pending(<LaneTable>o, visit, arg)


cdef int _lanetable_clear(PyObject* o) noexcept:
    """Break reference cycles through pending commands: empty the table."""
    (<LaneTable>o)._release()
    if _base_clear != NULL:
        return _base_clear(o)
    return 0


(<lc_typeobject*>LaneTable).tp_traverse = _lanetable_traverse
(<lc_typeobject*>LaneTable).tp_clear = _lanetable_clear


# ------------------------------------------------ full collections see every pending item
_untracking_tables = weakref.WeakSet()


cdef void _watch_full_collections(LaneTable table) except *:
    _untracking_tables.add(table)


def _track_before_full_collection(phase, info):
    """gc.callbacks hook: before a generation-2 collection, track every hidden pending item."""
    if phase == "start" and info["generation"] == 2:
        for table in list(_untracking_tables):
            (<LaneTable>table)._track_pending()


if UNTRACK_PENDING:
    gc.callbacks.append(_track_before_full_collection)
