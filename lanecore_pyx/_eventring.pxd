# cython: language_level=3
"""Declarations of the compiled event buffer (see _eventring.pyx)."""

cdef struct event_slot:
    void* item          # an owned reference: a command record's lane id, or a ready event object
    void* source        # owned or NULL: what a command record's command_type comes from
    void* id_obj        # owned or NULL: the command id, unless it is an int64 (then id_int)
    long long id_int
    double timestamp    # wall-clock seconds (time.time()) of a command record
    int kind            # 0.. for a command record (an index into the command event keys),
                        # -1 for a ready event object


cdef class EventRing:
    cdef event_slot* _slots
    cdef Py_ssize_t _capacity, _head, _count
    cdef readonly long long offered
    cdef readonly long long taken
    cdef public object waker
    cdef readonly type event_type     # made by object.__new__; slots set by offset
    cdef readonly tuple keys          # the event key of each command record kind
    cdef Py_ssize_t o_key, o_payload, o_lane_id, o_command_id, o_source, o_timestamp

    cdef void c_push_command(
        self, int kind, object lane_id, object command_id, object source, double timestamp
    ) except *
    cdef void _put(self, event_slot record) except *
    cdef void _release(self) noexcept
    cdef object _pop(self)
    cdef object _next_ready(self)
