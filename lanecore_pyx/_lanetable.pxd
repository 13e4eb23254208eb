# cython: language_level=3
"""Declarations of the compiled lane table (see _lanetable.pyx)."""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

from lanecore_pyx._tokenbucket cimport bucket_t

cdef enum:
    LEVELS = 256        # priority levels 0..255, 0 served first
    LEVEL_WORDS = 4     # 64-bit words of a level bitmap
    RING_READY = 0      # lanes that may dispatch now
    RING_RESERVED = 1   # ready lanes still under their granted reservation
    RINGS = 2


ctypedef struct lane_t:
    # Pending commands: a ring buffer of owned references indexed by ``ticket & (cap - 1)``.
    # Tickets head..tail-1 are in the buffer; a NULL slot among them is a tombstone left by
    # remove(). The slot of ``head`` is never a tombstone while ``pending > 0``; slots outside
    # head..tail-1 are always NULL. cap is 0 (buf NULL) or a power of two >= tail - head.
    PyObject** buf
    long long* tags         # beside buf (the same allocation): each slot's tag (push_tagged)
    long long* costs        # beside tags, only on a lane with a cost bucket (else NULL): costs
    Py_ssize_t cap
    uint64_t head           # ticket of the oldest pending command (== tail when none)
    uint64_t tail           # the next ticket to hand out
    Py_ssize_t pending      # live (non-tombstone) commands
    Py_ssize_t active
    uint64_t completions    # complete() calls so far (with tail, the pushes: for metrics)
    long long min_conc      # (64-bit on every platform, like the reserve)
    long long granted       # the reservation the global limit grants: min_conc or 0 (grants)
    Py_ssize_t max_conc     # saturated at PY_SSIZE_T_MAX
    long long unmet         # this lane's share of the table's reserve
    # intrusive circular doubly-linked lists, one per ring (RING_READY, RING_RESERVED)
    Py_ssize_t next[RINGS]
    Py_ssize_t prev[RINGS]
    # the throttled lanes, in the order they were throttled (-1 ends; valid while throttled)
    Py_ssize_t tnext
    Py_ssize_t tprev
    # with a global limit: the lanes of one base priority in the order added (grant order);
    # a removed lane's knext is the next free index (-1 ends both)
    Py_ssize_t knext
    Py_ssize_t kprev
    int base                # base priority
    int prio                # effective priority = the level of the lane's ring membership
    unsigned char in_ring[RINGS]    # in_ready, in_reserved
    unsigned char live      # not removed
    unsigned char paused
    unsigned char throttled
    unsigned char has_bucket        # a request bucket: one token per command
    unsigned char has_cost          # a cost bucket: each command's cost
    unsigned char before_cut        # with a global limit: granted its min_concurrency
    bucket_t bucket
    bucket_t cost_bucket


cdef struct hide_t:
    PyObject* type        # pending items of exactly this type are hidden (NULL: none)
    int n                 # how many of its __slots__ hold companions hidden with it
    Py_ssize_t off[4]     # their offsets


cdef class LaneTable:
    cdef lane_t* _lanes
    cdef Py_ssize_t _top              # lane slots in use, live or removed (the high-water mark)
    cdef Py_ssize_t _count            # live lanes
    cdef Py_ssize_t _allocated        # lanes allocated
    cdef Py_ssize_t _free             # the most recently removed lane's index (-1: none)
    cdef long long _limit             # global limit, saturated at LLONG_MAX (0 = none)
    cdef object _global_limit         # the global limit as given
    cdef object _clock                # None: the C monotonic clock
    cdef object _untracked_type       # pending items of this exact type are GC-untracked
    cdef hide_t _hide                 # what push hides from the young GC generations
    cdef Py_ssize_t _total_active
    cdef Py_ssize_t _total_pending
    cdef long long _reserve           # slots held for lanes still under their granted reservation
    cdef Py_ssize_t _throttled_count
    cdef Py_ssize_t _throttled_head   # the throttled lanes (lane_t.tnext/tprev), -1: none
    cdef Py_ssize_t _throttled_tail
    # dispatch index: per ring, a bitmap of non-empty levels and the head lane of each level
    cdef uint64_t _bits[RINGS][LEVEL_WORDS]
    cdef Py_ssize_t _heads[RINGS][LEVELS]
    # grant order (only with a global limit): per base priority, its lanes in the order added;
    # lanes before the cut are granted their min_concurrency, the cut and all after it none
    cdef Py_ssize_t _khead[LEVELS]
    cdef Py_ssize_t _ktail[LEVELS]
    cdef Py_ssize_t _cut              # the first lane granted nothing (-1: every lane fits)
    cdef long long _granted_sum       # min_concurrency of the lanes before the cut
    cdef object __weakref__           # weak references, as to the twin's instances

    # C entry points for other compiled modules (the dispatcher); the def methods wrap them
    @cython.final
    cdef uint64_t c_push(self, Py_ssize_t index, object item) except? 0xFFFFFFFFFFFFFFFF
    cdef uint64_t c_push_tagged(self, Py_ssize_t index, object item, long long tag) except? 0xFFFFFFFFFFFFFFFF
    @cython.final
    cdef uint64_t c_push_costed(self, Py_ssize_t index, object item, long long tag, long long cost) except? 0xFFFFFFFFFFFFFFFF
    cdef object c_pop_ready_tagged(self, long long* tag)
    @cython.final
    cdef object c_pop_ready(self)
    @cython.final
    cdef bint c_can_pop(self) noexcept
    @cython.final
    cdef int c_complete(self, Py_ssize_t index) except -1

    @cython.final
    cdef Py_ssize_t _lane_index(self, object lane) except -1
    @cython.final
    cdef double _now(self) except? -1.0
    @cython.final
    cdef Py_ssize_t _pick(self) noexcept
    @cython.final
    cdef void _join(self, int ring, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _leave(self, int ring, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _to_back(self, int ring, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _refresh(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _unlink(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _rotate(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _throttle(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _unthrottle(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _reset(self) noexcept
    @cython.final
    cdef void _release(self) noexcept
    @cython.final
    cdef void _track_pending(self) noexcept
    @cython.final
    cdef Py_ssize_t _grant_next(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef Py_ssize_t _grant_prev(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _set_grant(self, Py_ssize_t lane, bint granted) noexcept
    @cython.final
    cdef void _grant_added(self, Py_ssize_t lane) noexcept
    @cython.final
    cdef void _grant_removed(self, Py_ssize_t lane) noexcept
