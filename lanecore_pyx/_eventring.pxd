# cython: language_level=3
"""Declarations of the compiled event buffer (see _eventring.pyx)."""

cdef struct event_slot:
    void* item          # an owned reference: a command's handle, or a ready event object
    double timestamp    # wall-clock seconds (time.time()) of a command record
    int kind            # 0.. for a command record (an index into the command event keys), -1


cdef class EventRing:
    cdef event_slot* _slots
    cdef Py_ssize_t _capacity, _head, _count
    cdef readonly long long offered
    cdef readonly long long taken
    cdef public object waker
    cdef readonly type event_type     # made by object.__new__; slots set by offset
    cdef readonly tuple keys          # the event key of each command record kind
    cdef Py_ssize_t o_key, o_payload, o_handle, o_timestamp

    cdef void c_push_command(self, int kind, object handle, double timestamp) except *
    cdef void _put(self, void* item, int kind, double timestamp) except *
    cdef void _release(self) noexcept
    cdef object _pop(self)
