# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True
"""A subscriber's bounded event buffer in C (compiled twin of ``lanecore._eventring_py``).

The scheduler records up to three events per command (submitted, started, completed). Here a
record is a C struct (lane id, command id - unboxed when it is an int64 -, the command for a
started event's command_type, wall-clock time, kind) in a fixed ring, so emitting allocates
nothing and calls no Python code, and a record never touches the command's handle again (by
the time a full ring drops it, the handle's memory has long gone cold). The event object is
made only when the subscriber reads it: an ``event_type`` instance made by ``tp_alloc`` whose
``key``, ``timestamp``, ``_lane_id``, ``_command_id``, ``_source`` and ``_payload`` slots are
set directly (the payload dict is made on access). When the ring is full the oldest record
is dropped; ``dropped`` counts them. ``next_ready()`` hands a buffered event to ``async for``
without a coroutine.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.ref cimport Py_DECREF, Py_INCREF

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
    /* Give type t an am_send slot (t has __await__, so tp_as_async exists). */
    static void lanecore_install_am_send(PyObject* t, void* send) {
        PyAsyncMethods* am = ((PyTypeObject*)t)->tp_as_async;
        if (am != NULL) am->am_send = (sendfunc)send;
        PyType_Modified((PyTypeObject*)t);
    }
    """
    object er_alloc "lanecore_alloc"(object t)
    void install_am_send "lanecore_install_am_send"(object t, void* send) noexcept


cdef inline void slot_release(event_slot slot) noexcept:
    """Drop the references a record holds."""
    Py_DECREF(<object>slot.item)
    if slot.source != NULL:
        Py_DECREF(<object>slot.source)
    if slot.id_obj != NULL:
        Py_DECREF(<object>slot.id_obj)


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
        self._slots = <event_slot*>PyMem_Malloc(<size_t>capacity * sizeof(event_slot))
        if self._slots == NULL:
            raise MemoryError()
        self._capacity = capacity
        self._head = 0
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
        cdef Py_ssize_t i
        cdef event_slot slot
        while self._count:
            i = self._head
            slot = self._slots[i]
            self._slots[i].item = NULL
            self._head = i + 1 if i + 1 < self._capacity else 0
            self._count -= 1
            slot_release(slot)

    cdef void _put(self, event_slot record) except *:
        cdef Py_ssize_t i
        cdef event_slot old
        cdef bint dropped = False
        if self._count == self._capacity:  # full: the oldest record goes
            old = self._slots[self._head]
            dropped = True
            self._head = self._head + 1 if self._head + 1 < self._capacity else 0
            self._count -= 1
        i = self._head + self._count  # (no % on the hot path: both are < capacity)
        if i >= self._capacity:
            i -= self._capacity
        self._slots[i] = record
        self._count += 1
        self.offered += 1
        if dropped:
            slot_release(old)  # last, when the ring is consistent: it may run finalizers
        if self.waker is not None:
            waker = self.waker
            self.waker = None
            waker()

    cdef void c_push_command(
        self, int kind, object lane_id, object command_id, object source, double timestamp
    ) except *:
        cdef event_slot record
        cdef long long value
        cdef int overflow = 0
        record.kind = kind
        record.timestamp = timestamp
        Py_INCREF(lane_id)
        record.item = <void*>lane_id
        record.source = NULL
        if source is not None:
            Py_INCREF(source)
            record.source = <void*>source
        record.id_obj = NULL
        record.id_int = 0
        if PyLong_CheckExact(command_id):
            value = PyLong_AsLongLongAndOverflow(command_id, &overflow)
            if overflow == 0:
                record.id_int = value
            else:
                record.id_obj = <void*>command_id
        else:
            record.id_obj = <void*>command_id
        if record.id_obj != NULL:
            Py_INCREF(command_id)
        self._put(record)

    def push_command(self, int kind, handle, timestamp=None):
        """Record event ``kind`` (>= 0) of a command: its ``lane_id`` and ``command_id``, and
        the handle itself for ``command_type``; stamped ``timestamp`` (time.time() seconds;
        None: now)."""
        if kind < 0:
            raise ValueError(f"kind must be >= 0, got {kind}")
        self.c_push_command(
            kind,
            handle.lane_id,
            handle.command_id,
            handle,
            lanecore_wallclock() if timestamp is None else timestamp,
        )

    def push(self, event):
        """Record a ready event object."""
        cdef event_slot record
        Py_INCREF(event)
        record.item = <void*>event
        record.source = NULL
        record.id_obj = NULL
        record.id_int = 0
        record.timestamp = 0.0
        record.kind = -1
        self._put(record)

    cdef object _pop(self):
        if not self._count:
            return None
        cdef Py_ssize_t i = self._head
        cdef event_slot slot = self._slots[i]
        self._slots[i].item = NULL
        self._head = i + 1 if i + 1 < self._capacity else 0
        self._count -= 1
        self.taken += 1
        item = <object>slot.item
        Py_DECREF(item)  # the ring's reference; ``item`` holds its own
        if slot.kind < 0:
            return item
        event = er_alloc(self.event_type)
        slot_set(event, self.o_key, self.keys[slot.kind])
        slot_set(event, self.o_payload, None)
        slot_set(event, self.o_lane_id, item)
        if slot.id_obj != NULL:
            command_id = <object>slot.id_obj
            Py_DECREF(command_id)
        else:
            command_id = slot.id_int
        slot_set(event, self.o_command_id, command_id)
        if slot.source != NULL:
            source = <object>slot.source
            Py_DECREF(source)
            slot_set(event, self.o_source, source)
        else:
            slot_set(event, self.o_source, None)
        slot_set(event, self.o_timestamp, slot.timestamp)
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
    cdef Py_ssize_t head = (<EventRing>o)._head
    cdef Py_ssize_t capacity = (<EventRing>o)._capacity
    cdef event_slot* slots = (<EventRing>o)._slots
    cdef event_slot* slot
    if _base_traverse != NULL:
        r = _base_traverse(o, visit, arg)
        if r:
            return r
    for k in range((<EventRing>o)._count):
        slot = &slots[(head + k) % capacity]
        r = visit(<PyObject*>slot.item, arg)
        if r == 0 and slot.source != NULL:
            r = visit(<PyObject*>slot.source, arg)
        if r == 0 and slot.id_obj != NULL:
            r = visit(<PyObject*>slot.id_obj, arg)
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
