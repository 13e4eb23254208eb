# cython: language_level=3
"""The clocks in C, read without a Python call: the one behind ``time.monotonic()`` and the
wall clock behind ``time.time()``."""

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
    #if defined(_WIN32)
    static double lanecore_wallclock(void) {
        FILETIME ft;
        ULARGE_INTEGER t;
        GetSystemTimePreciseAsFileTime(&ft);
        t.LowPart = ft.dwLowDateTime;
        t.HighPart = ft.dwHighDateTime;
        /* 100 ns ticks since 1601-01-01 -> seconds since the Unix epoch */
        return (double)(t.QuadPart - 116444736000000000ULL) / 1e7;
    }
    #else
    static double lanecore_wallclock(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    #endif
    """
    double lanecore_monotonic() noexcept nogil
    double lanecore_wallclock() noexcept nogil
