# cython: language_level=3
"""The monotonic clock in C: the clock behind ``time.monotonic()``, read without a Python call."""

cdef extern from *:
    """
    #if defined(_WIN32)
    #ifndef WIN32_LEAN_AND_MEAN
    #define WIN32_LEAN_AND_MEAN
    #endif
    #ifndef NOMINMAX
    #define NOMINMAX
    #endif
    #include <windows.h>
    static double lanecore_monotonic(void) {
        LARGE_INTEGER freq, counter;
        QueryPerformanceFrequency(&freq);
        QueryPerformanceCounter(&counter);
        return (double)counter.QuadPart / (double)freq.QuadPart;
    }
    #else
    #include <time.h>
    static double lanecore_monotonic(void) {
        struct timespec ts;
        long long ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ns = (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec;
        /* the same conversion as CPython's time.monotonic() (_PyTime_AsSecondsDouble) */
        if (ns % 1000000000LL == 0)
            return (double)(ns / 1000000000LL);
        return (double)ns / 1e9;
    }
    #endif
    """
    double lanecore_monotonic() noexcept nogil
