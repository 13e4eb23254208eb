# cython: language_level=3
"""Declarations of the compiled dispatcher (see _dispatch.pyx)."""

from cpython.object cimport PyObject

from lanecore_pyx._lanetable cimport LaneTable


cdef class LaneRecord:
    cdef readonly str lane_id
    cdef readonly Py_ssize_t index
    cdef public object timeout        # the lane's default seconds per attempt, or None
    cdef public bint run_in_executor  # the lane's default for sync callables
    cdef public bint hooks            # call DispatchHooks.lane_changed after pushes and pops
    cdef public bint stamps           # handles need _submitted_at (deadline boost)
    cdef readonly object policy       # the shell's own object for this lane
    cdef public Py_ssize_t max_pending  # submits leave the fast path at this many (0: no bound)
    cdef public Py_ssize_t held       # its commands the shell holds outside the table


cdef class _Window:
    cdef list slots                   # handle or None, by number - base
    cdef dict spilled                 # numbers spilled from a sparse window
    cdef long long base               # the number of slots[0]
    cdef Py_ssize_t head              # slots[:head] is all None
    cdef Py_ssize_t count

    cdef int add(self, long long number, object handle) except -1
    cdef bint remove(self, long long number) except -1
    cdef int _advance(self) except -1
    cdef object get(self, object number)
    cdef list items(self)


cdef class Inflight:
    cdef readonly dict named          # ids given to the core (str) -> handle
    cdef _Window auto                 # auto-numbered ids
    cdef _Window numbered             # the core's own named-command ids, prefix-n, by n
    cdef public object prefix         # "<named_prefix>-", or None
    cdef Py_ssize_t count             # outstanding commands

    cdef int add_auto(self, long long command_id, object handle) except -1
    cdef int add_numbered(self, long long number, object handle) except -1
    cdef int add_named(self, object command_id, object handle) except -1
    cdef int remove_auto(self, long long command_id) except -1
    cdef int remove_numbered(self, long long number) except -1
    cdef object _number_of(self, object command_id)
    cdef int remove(self, object command_id) except -1


cdef class Dispatcher:
    cdef readonly object hooks
    cdef readonly LaneTable table
    cdef readonly object handle_type
    cdef readonly dict lanes          # lane id -> LaneRecord
    cdef readonly Inflight inflight   # command id -> handle, until it is resolved
    cdef readonly list idle           # futures of parked runners
    cdef readonly set runners
    cdef readonly list rings          # the event buffers of unfiltered subscribers
    cdef readonly list filtered       # filtered subscribers (events go through the hub)
    cdef readonly object emit_filtered
    cdef object _loop
    cdef object _create_task
    cdef dict _handle_kwargs          # {"loop": loop}: made once, passed to every handle's init
    cdef public bint accepting
    cdef public bint started
    cdef public bint closed
    cdef public bint rate_limited
    # the throttled-lane count the shell's token timer is armed for, -1 while none is armed:
    # the core calls hooks.arm_token_timer only when the table's count differs from it
    cdef public Py_ssize_t token_armed_for
    cdef public bint drain_wanted
    cdef long long _next_id
    cdef public Py_ssize_t starting   # runners spawned that have not looked for work yet
    cdef public bint waking           # an idle runner was woken and has not looked yet
    cdef public object recorder       # has wait_records and run_records when metrics are on
    cdef public Py_ssize_t sample_every
    cdef public Py_ssize_t sample_count
    cdef public object named          # command type -> handler (no storage), or None
    cdef str _named_prefix
    cdef public long long named_next
    cdef dict _execute_is_async       # per command class: is its execute an async function
    cdef object _runner_context       # the empty context runner tasks run in
    # the copy of the caller's context that submits share while it is unchanged (owned)
    cdef object _snap_copy            # the caller's context copy that submits share
    cdef object _runner_done_cb
    cdef object _future_set_result   # asyncio.Future.set_result, when the handle type keeps it
    # __slots__ offsets of the handle type
    cdef Py_ssize_t o_command_id, o_command, o_context, o_cost, o_failures, o_group, o_lane
    cdef Py_ssize_t o_owner, o_queued_at, o_run, o_runner, o_submitted_at, o_ticket, o_timeout, o_timer

    cdef bint _execute_is_async_of(self, object kind) except -1
    cdef object _runner_of(self, object command)
    cdef object _named_id(self)
    cdef object _context_now(self)
    cdef object _handle(self, LaneRecord ls, object command, object run, object timeout,
                        object command_id, object context, long long number=*,
                        object cost=*, object group=*, bint hold=*)
    cdef object _queue(self, LaneRecord ls, object command, object run, object timeout,
                       object command_id, object context, long long number=*,
                       object cost=*, object group=*, bint hold=*)
    cdef object _push(self, LaneRecord ls, object handle, object cost)
    cdef int _emit(self, int kind, object handle, LaneRecord ls, double timestamp) except -1
    cdef int _wake_one(self) except -1
    cpdef kick(self)
