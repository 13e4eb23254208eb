# cython: language_level=3
"""Declarations of the compiled dispatcher (see _dispatch.pyx)."""

from lanecore_pyx._lanetable cimport LaneTable


cdef class Dispatcher:
    cdef readonly object manager
    cdef readonly LaneTable table
    cdef readonly object handle_type
    cdef readonly dict inflight
    cdef readonly list idle
    cdef readonly list listeners
    cdef readonly list drain_waiters
    cdef readonly list rings          # the event buffers of unfiltered subscribers
    cdef readonly list filtered       # filtered subscribers (events go through the hub)
    cdef readonly object emit_filtered
    cdef object _loop
    cdef dict _handle_kwargs          # {"loop": loop}: made once, passed to every handle's init
    cdef public bint started
    cdef public bint closed
    cdef public bint rate_limited
    cdef long long _next_id
    cdef Py_ssize_t starting          # runners spawned that have not taken a command yet
    cdef public object recorder       # a MetricsRecorder when the manager records metrics
    cdef public Py_ssize_t sample_every
    cdef Py_ssize_t sample_count
    # __slots__ offsets of CommandHandle ...
    cdef Py_ssize_t o_command_id, o_command, o_run, o_lane, o_manager, o_ticket, o_timeout
    cdef Py_ssize_t o_failures, o_runner, o_timer, o_submitted_at, o_queued_at
    # ... and of the manager's lane record
    cdef Py_ssize_t o_index, o_lane_id, o_hooks, o_boost

    cdef object _queue(self, object ls, object command, object run, object timeout,
                       object command_id, object now)
    cdef int _emit(self, int kind, object handle, object ls, double timestamp) except -1
    cpdef kick(self)
