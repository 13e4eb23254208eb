# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""A subscriber's bounded event buffer in C (compiled twin of ``lanecore._eventring_py``).

The scheduler records three events per command (submitted, started, completed). Here they are
records in a fixed ring of C structs (lane id, command id, the command for a started event's
command_type, wall-clock time, kind), so recording allocates nothing and calls no Python code,
and a record never touches the command's handle again. One record can hold several events: a
*run* is the submitted events of one submit_many batch (consecutive ids, one time), a *pair*
is a command's started and completed events when nothing was recorded in between (a command
that finished without suspending). The capacity, ``len``, ``offered``, ``taken`` and
``dropped`` all count events, as in the twin, which holds one entry per event; when the ring
is full the oldest events go, from a run or pair as from any record.

The event object is made only when the subscriber reads it: an ``event_type`` instance whose
``key``, ``timestamp``, ``_lane_id``, ``_command_id``, ``_source``, ``_group`` and ``_payload``
slots are set directly (the payload dict is made on access). The ring keeps the last two it made and
refills one when nobody else holds it any more, so a reader that drops each event after use
costs no allocation per event. ``next_ready()`` hands a buffered event to ``async for``
without a coroutine.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.limits cimport LLONG_MAX

from lanecore_pyx._clock cimport lanecore_wallclock
from lanecore_pyx._slots cimport slot_offset, slot_set

ctypedef int (*er_visitproc)(PyObject*, void*) noexcept
ctypedef int (*er_traverseproc)(PyObject*, er_visitproc, void*) noexcept
ctypedef int (*er_inquiry)(PyObject*) noexcept

cdef extern from "Python.h":
    ctypedef struct er_typeobject "PyTypeObject":
        er_traverseproc tp_traverse
        er_inquiry tp_clear

cdef extern from *:
    """
    /* A new, zero-filled instance of a plain heap type (no __new__/__init__ of its own):
       what object.__new__(t) does, without the call machinery. */
    static CYTHON_INLINE PyObject* lanecore_alloc(PyObject* t) {
        return ((PyTypeObject*)t)->tp_alloc((PyTypeObject*)t, 0);
    }
    /* Whether the ring may refill an event object it holds the only reference to (not where
       another thread could take a reference to it meanwhile). */
    #ifdef Py_GIL_DISABLED
    #define LANECORE_REUSES_EVENTS 0
    #else
    #define LANECORE_REUSES_EVENTS 1
    #endif
    /* Give type t an am_send slot (t has __await__, so tp_as_async exists). */
    static void lanecore_install_am_send(PyObject* t, void* send) {
        PyAsyncMethods* am = ((PyTypeObject*)t)->tp_as_async;
        if (am != NULL) am->am_send = (sendfunc)send;
        PyType_Modified((PyTypeObject*)t);
    }
    """
    object er_alloc "lanecore_alloc"(object t)
    Py_ssize_t er_refcnt "Py_REFCNT"(PyObject* o) noexcept
    bint REUSES_EVENTS "LANECORE_REUSES_EVENTS"
    void install_am_send "lanecore_install_am_send"(object t, void* send) noexcept


cdef inline object slot_command_id(event_slot* slot):
    """The command id of a command record's first event."""
    if slot.id_obj != NULL:
        return <object>slot.id_obj
    return slot.id_int


cdef class EventRing:
    """Holds the newest ``capacity`` events; ``waker`` (if set) is called once by the next push."""

    def __cinit__(self, capacity, type event_type, tuple keys):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
        self.o_key = slot_offset(event_type, "key")
        self.o_payload = slot_offset(event_type, "_payload")
        self.o_lane_id = slot_offset(event_type, "_lane_id")
        self.o_command_id = slot_offset(event_type, "_command_id")
        self.o_source = slot_offset(event_type, "_source")
        self.o_timestamp = slot_offset(event_type, "timestamp")
        self.o_group = slot_offset(event_type, "_group")
        # a record holds at least one event, so ``capacity`` slots always suffice
        self._slots = <event_slot*>PyMem_Malloc(<size_t>capacity * sizeof(event_slot))
        if self._slots == NULL:
            raise MemoryError()
        self._capacity = capacity
        self._head = 0
        self._records = 0
        self._count = 0
        self.offered = 0
        self.taken = 0
        self.waker = None
        self.event_type = event_type
        self.keys = keys

    def __dealloc__(self):
        self._release()
        PyMem_Free(self._slots)
        self._slots = NULL

    cdef void _release(self) noexcept:
        """Drop every held reference (the ring is then empty)."""
        while self._records:
            ring_drop_oldest(self, self._capacity)  # (the whole oldest record)

    cdef void fire_waker(self) except *:
        """Call the waker (once: it is cleared first)."""
        if self.waker is not None:
            waker = self.waker
            self.waker = None
            waker()

    cdef void _append(self, event_slot record) except *:
        """Add a record of 1..capacity events (its references owned), dropping the oldest
        events first to make room."""
        ring_make_room(self, record.n)
        self._slots[ring_index(self, self._records)] = record
        self._records += 1
        self._count += record.n
        self.offered += record.n
        self.fire_waker()

    cdef void c_push_command(
        self, int kind, object lane_id, object command_id, object source, double timestamp,
        object group,
    ) except *:
        """push_command() for C callers (kind checked; ``source``/``group`` None: none)."""
        if ring_record_grouped(
            self, kind, <PyObject*>lane_id, <PyObject*>command_id,
            NULL if source is None else <PyObject*>source, timestamp,
            NULL if group is None else <PyObject*>group,
        ):
            self.fire_waker()

    cdef void c_push_run(
        self, int kind, object lane_id, long long first_id, Py_ssize_t n, double timestamp,
        object group=None,
    ) except *:
        """push_run() for C callers (kind and ids checked; ``group`` None: none)."""
        if n <= 0:
            return
        if n > self._capacity:  # only the newest ``capacity`` would stay
            first_id += n - self._capacity
            self.offered += n - self._capacity
            n = self._capacity
        Py_INCREF(lane_id)
        if group is not None:
            Py_INCREF(group)
        self._append(new_record(
            kind, <void*>lane_id, NULL, first_id, NULL, n, timestamp,
            NULL if group is None else <void*>group,
        ))

    def _check_kind(self, int kind):
        if not 0 <= kind < len(self.keys):
            raise ValueError(f"kind must be an index into keys (0..{len(self.keys) - 1}), got {kind}")

    def push_command(
        self, int kind, lane_id, command_id, source=None, timestamp=None, group=None
    ):
        """Record event ``kind`` (an index into ``keys``) of command ``command_id`` of lane
        ``lane_id``; ``source`` (or None) is what its command_type comes from. Stamped
        ``timestamp`` (time.time() seconds; None: now). A ``group`` (not None) shows in the
        event's payload as "group"."""
        self._check_kind(kind)
        self.c_push_command(
            kind,
            lane_id,
            command_id,
            source,
            lanecore_wallclock() if timestamp is None else timestamp,
            group,
        )

    def push_run(
        self, int kind, lane_id, long long first_id, Py_ssize_t count, timestamp=None,
        group=None,
    ):
        """Record event ``kind`` (an index into ``keys``) of ``count`` commands of lane
        ``lane_id`` whose ids are ``first_id``, ``first_id + 1``, ... (one submit_many batch),
        all stamped ``timestamp`` (None: now) and of ``group`` (None: none); held as one
        record."""
        self._check_kind(kind)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count and first_id > LLONG_MAX - (count - 1):
            raise OverflowError(f"command ids from {first_id} for {count} overflow int64")
        self.c_push_run(
            kind,
            lane_id,
            first_id,
            count,
            lanecore_wallclock() if timestamp is None else timestamp,
            group,
        )

    def push(self, event):
        """Record a ready event object."""
        Py_INCREF(event)
        self._append(new_record(-1, <void*>event, NULL, 0, NULL, 1, 0.0, NULL))

    cdef object _pop(self):
        if not self._count:
            return None
        cdef event_slot* slot = &self._slots[self._head]
        cdef double timestamp = slot.timestamp
        cdef int kind = slot.kind
        # take the first event's fields out, then step the record on (as dropping it would),
        # then make the event (its allocation may run finalizers that push into this ring)
        item = <object>slot.item
        self.taken += 1
        if kind < 0:  # a ready event
            ring_drop_oldest(self, 1)
            return item
        command_id = slot_command_id(slot)
        command = None if slot.source == NULL else <object>slot.source
        group = None if slot.group == NULL else <object>slot.group
        ring_drop_oldest(self, 1)
        event = self._event_object()
        slot_set(event, self.o_key, <object>PyTuple_GET_ITEM(self.keys, kind))
        slot_set(event, self.o_payload, None)
        slot_set(event, self.o_lane_id, item)
        slot_set(event, self.o_command_id, command_id)
        slot_set(event, self.o_source, command)
        slot_set(event, self.o_timestamp, timestamp)
        slot_set(event, self.o_group, group)
        return event

    cdef object _event_object(self):
        """An event object to fill in: one of the last two this ring made, if nobody else
        holds it any more (so nobody can see it change; a reader's ``async for`` holds only
        the previous event while it asks for the next), else a new one, kept as a spare."""
        if REUSES_EVENTS:
            if er_refcnt(<PyObject*>self._spare) == 1:
                return self._spare
            if er_refcnt(<PyObject*>self._spare2) == 1:
                return self._spare2
        event = er_alloc(self.event_type)
        if REUSES_EVENTS:
            self._spare2 = self._spare
            self._spare = event
        return event

    def pop(self):
        """The oldest event (made from its record now), or None when empty."""
        return self._pop()

    cdef object _next_ready(self):
        if not self._count:
            return None
        cdef Ready ready = Ready.__new__(Ready)
        ready.value = self._pop()
        return ready

    def next_ready(self):
        """An awaitable of the oldest event when one is buffered (for ``__anext__``), else
        None."""
        return self._next_ready()

    def iterator(self, more):
        """An async iterator over this ring: each step hands over the oldest buffered event,
        or returns ``more()`` (an awaitable of the next event) when none is buffered."""
        return EventIterator.__new__(EventIterator, self, more)

    def clear(self):
        """Drop every buffered event (they are not counted as dropped)."""
        self.taken += self._count
        self._release()

    def __len__(self):
        return self._count

    @property
    def capacity(self):
        return self._capacity

    @property
    def dropped(self):
        """Events lost because the ring was full."""
        return self.offered - self.taken - self._count


@cython.final
cdef class EventIterator:
    """``EventRing.iterator(more)``: ``__anext__`` in C, so an ``async for`` over buffered
    events runs no Python frame per event."""

    cdef EventRing ring
    cdef object more

    def __cinit__(self, EventRing ring not None, more):
        self.ring = ring
        self.more = more

    def __aiter__(self):
        return self

    def __anext__(self):
        ready = self.ring._next_ready()
        return self.more() if ready is None else ready


@cython.freelist(8)
cdef class Ready:
    """An awaitable that is already done: awaiting it returns ``value`` at once."""

    cdef object value

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        value, self.value = self.value, None
        raise StopIteration(value)


cdef int _ready_send(PyObject* self, PyObject* arg, PyObject** result) noexcept:
    """Ready's am_send: return (PYGEN_RETURN, 0) the value, so that awaiting a Ready raises
    and catches no StopIteration."""
    cdef Ready ready = <Ready>self
    value = ready.value
    ready.value = None
    Py_INCREF(value)
    result[0] = <PyObject*>value
    return 0


install_am_send(Ready, <void*>_ready_send)


# ------------------------------------------------------------------ GC support
cdef er_traverseproc _base_traverse = (<er_typeobject*>EventRing).tp_traverse
cdef er_inquiry _base_clear = (<er_typeobject*>EventRing).tp_clear


cdef int _eventring_traverse(PyObject* o, er_visitproc visit, void* arg) noexcept:
    """Visit the generated fields, then every buffered item."""
    cdef int r
    cdef Py_ssize_t k
    cdef event_slot* slot
    if _base_traverse != NULL:
        r = _base_traverse(o, visit, arg)
        if r:
            return r
    for k in range((<EventRing>o)._records):
        slot = &(<EventRing>o)._slots[ring_index(<EventRing>o, k)]
        r = visit(<PyObject*>slot.item, arg)
        if r == 0 and slot.source != NULL:
            r = visit(<PyObject*>slot.source, arg)
        if r == 0 and slot.id_obj != NULL:
            r = visit(<PyObject*>slot.id_obj, arg)
        if r == 0 and slot.group != NULL:
            r = visit(<PyObject*>slot.group, arg)
        if r:
            return r
    return 0


cdef int _eventring_clear(PyObject* o) noexcept:
    (<EventRing>o)._release()
    if _base_clear != NULL:
        return _base_clear(o)
    return 0


(<er_typeobject*>EventRing).tp_traverse = _eventring_traverse
(<er_typeobject*>EventRing).tp_clear = _eventring_clear
