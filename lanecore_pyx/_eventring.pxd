# cython: language_level=3
"""Declarations of the compiled event buffer (see _eventring.pyx)."""

from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF, Py_XINCREF


cdef struct event_slot:
    void* item          # an owned reference: a command record's lane id, or a ready event object
    void* source        # owned or NULL: what the first event's command_type comes from
    void* id_obj        # owned or NULL: the command id (NULL in a run: then id_int)
    void* group         # owned or NULL: the group of the record's commands (None: NULL)
    long long id_int
    double timestamp    # wall-clock seconds (time.time()) of the record's first event
    double timestamp2   # a pair's second event
    Py_ssize_t n        # events the record holds: 1; 2 for a pair; 1.. for a run
    int kind            # the first event's: 0.. for a command record (an index into the
                        # command event keys), -1 for a ready event object
    bint pair           # n == 2: events ``kind`` then ``kind + 1`` of one command
                        # (otherwise n > 1 is a run: event ``kind`` of ids id_int, id_int + 1..)


cdef class EventRing:
    cdef event_slot* _slots
    cdef Py_ssize_t _capacity, _head, _records, _count   # _count: events, in _records records
    cdef readonly long long offered
    cdef readonly long long taken
    cdef public object waker
    cdef readonly type event_type     # made by object.__new__; slots set by offset
    cdef readonly tuple keys          # the event key of each command record kind
    cdef Py_ssize_t o_key, o_payload, o_lane_id, o_command_id, o_source, o_timestamp, o_group
    cdef object _spare, _spare2       # the last two event objects made (see _event_object)

    cdef void c_push_command(
        self, int kind, object lane_id, object command_id, object source, double timestamp,
        object group,
    ) except *
    cdef void c_push_run(
        self, int kind, object lane_id, long long first_id, Py_ssize_t n, double timestamp,
        object group=*,
    ) except *
    cdef void _append(self, event_slot record) except *
    cdef void fire_waker(self) except *
    cdef void _release(self) noexcept
    cdef object _event_object(self)
    cdef object _pop(self)
    cdef object _next_ready(self)


cdef inline Py_ssize_t ring_index(EventRing ring, Py_ssize_t k) noexcept:
    """The slot of the ring's k-th record from the oldest (0 <= k <= capacity; no %)."""
    cdef Py_ssize_t i = ring._head + k
    return i - ring._capacity if i >= ring._capacity else i


cdef inline event_slot new_record(
    int kind, void* item, void* id_obj, long long id_int, void* source, Py_ssize_t n,
    double timestamp, void* group,
) noexcept:
    """A record of ``n`` events (a pair is made from a lone record by ``ring_complete``)."""
    cdef event_slot record
    record.item = item
    record.source = source
    record.id_obj = id_obj
    record.group = group
    record.id_int = id_int
    record.timestamp = timestamp
    record.timestamp2 = 0.0
    record.n = n
    record.kind = kind
    record.pair = False
    return record


cdef inline void slot_release(event_slot slot) noexcept:
    """Drop the references a record holds."""
    Py_XDECREF(<PyObject*>slot.item)
    Py_XDECREF(<PyObject*>slot.source)
    Py_XDECREF(<PyObject*>slot.id_obj)
    Py_XDECREF(<PyObject*>slot.group)


cdef inline void ring_drop_oldest(EventRing ring, Py_ssize_t excess) noexcept:
    """Drop up to ``excess`` (>= 1) of the oldest events, all from the oldest record."""
    cdef event_slot* slot = &ring._slots[ring._head]
    cdef event_slot old
    cdef PyObject* source
    if slot.n > excess:  # part of a run or of a pair
        ring._count -= excess
        if slot.pair:
            source = <PyObject*>slot.source
            slot.source = NULL
            slot.pair = False
            slot.kind += 1
            slot.timestamp = slot.timestamp2
            slot.n = 1
            Py_XDECREF(source)
        else:
            slot.id_int += excess
            slot.n -= excess
        return
    old = slot[0]
    slot.item = NULL
    ring._head = ring._head + 1 if ring._head + 1 < ring._capacity else 0
    ring._records -= 1
    ring._count -= old.n
    slot_release(old)  # last, when the ring is consistent: it may run finalizers


cdef inline void ring_make_room(EventRing ring, Py_ssize_t n) noexcept:
    """Drop the oldest events until ``n`` more fit (0 <= n <= capacity)."""
    while ring._count + n > ring._capacity:
        ring_drop_oldest(ring, ring._count + n - ring._capacity)


cdef inline bint ring_complete(
    EventRing ring, int kind, PyObject* lane_id, PyObject* command_id, double timestamp,
    PyObject* group,
) noexcept:
    """Record event ``kind`` (>= 1) of the command whose event ``kind - 1`` is the ring's
    newest record, alone (nothing was recorded since), by making that record a pair. False
    (nothing recorded) when it is not: the caller then records it as a record of its own."""
    cdef event_slot* slot
    if not ring._records:
        return False
    slot = &ring._slots[ring_index(ring, ring._records - 1)]
    if (slot.n != 1 or slot.kind != kind - 1 or kind < 1 or slot.id_obj != <void*>command_id
            or slot.item != <void*>lane_id or slot.group != <void*>group):
        return False
    slot.pair = True
    slot.n = 2
    slot.timestamp2 = timestamp
    ring._count += 1
    ring.offered += 1
    if ring._count > ring._capacity:
        ring_drop_oldest(ring, 1)
    return True


cdef inline bint ring_record_grouped(
    EventRing ring, int kind, PyObject* lane_id, PyObject* command_id, PyObject* source,
    double timestamp, PyObject* group,
) noexcept:
    """Record event ``kind`` (>= 0) of a command (``source``: NULL, or what its command_type
    comes from; ``group``: NULL, or the command's group), dropping the oldest event if the
    ring is full. A lone event ``kind - 1`` of the same command at the tail (nothing recorded
    since) takes it in as a pair instead of a new record (see ring_complete). True when the
    ring's waker is set: the caller then calls ``fire_waker()``."""
    if source == NULL and ring_complete(ring, kind, lane_id, command_id, timestamp, group):
        return ring.waker is not None
    Py_INCREF(<object>lane_id)  # first: the record owns them even if making room runs finalizers
    Py_INCREF(<object>command_id)
    Py_XINCREF(source)
    Py_XINCREF(group)
    if ring._count >= ring._capacity:
        ring_make_room(ring, 1)
    ring._slots[ring_index(ring, ring._records)] = new_record(
        kind, <void*>lane_id, <void*>command_id, 0, <void*>source, 1, timestamp, <void*>group
    )
    ring._records += 1
    ring._count += 1
    ring.offered += 1
    return ring.waker is not None


cdef inline bint ring_record(
    EventRing ring, int kind, PyObject* lane_id, PyObject* command_id, PyObject* source,
    double timestamp,
) noexcept:
    """ring_record_grouped of a command without a group."""
    return ring_record_grouped(ring, kind, lane_id, command_id, source, timestamp, NULL)
