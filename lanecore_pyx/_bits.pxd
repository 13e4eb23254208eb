# cython: language_level=3
"""Bitmaps over the 256 priority levels: four 64-bit words, find-first-set in one instruction."""

from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #if defined(_MSC_VER)
    #include <intrin.h>
    static __inline int lanecore_ctz64(unsigned __int64 x) {
        unsigned long index;
    #if defined(_M_X64) || defined(_M_ARM64) || defined(_M_AMD64)
        _BitScanForward64(&index, x);
        return (int)index;
    #else
        if (_BitScanForward(&index, (unsigned long)(x & 0xffffffffu)))
            return (int)index;
        _BitScanForward(&index, (unsigned long)(x >> 32));
        return (int)index + 32;
    #endif
    }
    #else
    static inline int lanecore_ctz64(unsigned long long x) {
        return __builtin_ctzll(x);
    }
    #endif
    """
    int lanecore_ctz64(uint64_t x) noexcept nogil   # x must not be 0



cdef inline int bits_first(const uint64_t* words) noexcept nogil:
    """Lowest set bit of a 256-bit map, or -1 if it is empty."""
    if words[0]:
        return lanecore_ctz64(words[0])
    if words[1]:
        return 64 + lanecore_ctz64(words[1])
    if words[2]:
        return 128 + lanecore_ctz64(words[2])
    if words[3]:
        return 192 + lanecore_ctz64(words[3])
    return -1


cdef inline void bits_set(uint64_t* words, int bit) noexcept nogil:
    words[bit >> 6] |= (<uint64_t>1) << (bit & 63)


cdef inline void bits_clear(uint64_t* words, int bit) noexcept nogil:
    words[bit >> 6] &= ~((<uint64_t>1) << (bit & 63))
