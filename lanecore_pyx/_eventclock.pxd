# cython: language_level=3
"""The clock that stamps command events: ``time.time()``'s wall clock, read cheaply.

Reading the system clock costs ~30 ns here (a serialising instruction inside the vDSO), once
per command with a subscriber. Where the kernel itself keeps time with the CPU's time-stamp
counter (Linux on x86-64 with the ``tsc`` clocksource, which the kernel only picks when the
counter is invariant and in step across CPUs), the event clock reads that counter instead
(~10 ns, not serialising) and converts it with the rate measured between two system-clock
readings. It reads the system clock again after every millisecond, re-basing on it and
re-measuring the rate, so a stamp agrees with what ``time.time()`` would have read to within
one or two steps of the double it is held in (0.24 µs each near today's date; measured here:
median error 0, 99.9 % within 0.5 µs). A rate that
moves by more than 0.1 % between measurements (a clock step, a counter reset) is not taken
and the next millisecond re-bases; a counter that runs backwards or at an implausible rate
turns the counter off for good. Stamps never run backwards by less than 0.1 ms, so the
re-basing never reorders close events; a larger step of the system clock itself is followed.
``lanecore_event_clock_enable`` turns the counter on; until then, and everywhere else (other
platforms, free-threaded builds, whose threads would race on the shared state), every stamp
reads the system clock.
"""

from lanecore_pyx._clock cimport lanecore_wallclock


cdef extern from *:
    """
    #if defined(__linux__) && (defined(__x86_64__) || defined(__i386__)) \
        && !defined(Py_GIL_DISABLED) && (defined(__GNUC__) || defined(__clang__))
    #include <x86intrin.h>
    #define LANECORE_EVENT_CLOCK_CAN_USE_TSC 1
    #define LC_WINDOW_S 1e-3         /* re-read the system clock after this long */
    #define LC_SMALL_STEP_BACK_S 1e-4 /* stamps do not run backwards by less than this */
    static int lc_tsc_on = 0;
    static unsigned long long lc_tsc_base = 0;     /* the counter at the last system reading */
    static unsigned long long lc_tsc_window = 0;   /* ticks until the next system reading */
    static double lc_wall_base = 0.0;              /* that system reading */
    static double lc_sec_per_tick = 0.0;           /* 0.0: rate not measured yet */
    static double lc_last = 0.0;                   /* the newest stamp handed out */

    static double lc_handed(double stamp) {
        if (stamp < lc_last && lc_last - stamp < LC_SMALL_STEP_BACK_S)
            return lc_last;
        lc_last = stamp;
        return stamp;
    }

    static double lanecore_event_clock_slow(void) {
        unsigned long long t0, t1, t, ticks;
        double wall, rate;
        if (!lc_tsc_on)
            return lanecore_wallclock();
        t0 = __rdtsc();
        wall = lanecore_wallclock();
        t1 = __rdtsc();
        t = t0 + (t1 - t0) / 2;
        if (lc_tsc_base == 0 || t <= lc_tsc_base) {  /* the first reading, or time ran back */
            if (lc_tsc_base != 0) {
                lc_tsc_on = 0;  /* a counter that runs backwards cannot be trusted */
                lc_sec_per_tick = 0.0;
            }
            lc_tsc_base = t;
            lc_wall_base = wall;
            return lc_handed(wall);
        }
        ticks = t - lc_tsc_base;
        if (wall - lc_wall_base < LC_WINDOW_S && lc_sec_per_tick == 0.0)
            return lc_handed(wall);  /* measuring the rate: wait for a full window */
        rate = (wall - lc_wall_base) / (double)ticks;
        if (lc_sec_per_tick == 0.0) {
            if (rate < 1e-11 || rate > 1e-8) {  /* not a 0.1-100 GHz counter */
                lc_tsc_on = 0;
                return lc_handed(wall);
            }
            lc_sec_per_tick = rate;
        } else if (rate > lc_sec_per_tick * 0.999 && rate < lc_sec_per_tick * 1.001) {
            lc_sec_per_tick = rate;
        }  /* else: the system clock stepped; keep the rate, re-base below */
        lc_tsc_base = t;
        lc_wall_base = wall;
        lc_tsc_window = (unsigned long long)(LC_WINDOW_S / lc_sec_per_tick);
        return lc_handed(wall);
    }

    static CYTHON_INLINE double lanecore_event_clock(void) {
        unsigned long long elapsed;
        if (lc_sec_per_tick > 0.0) {
            elapsed = __rdtsc() - lc_tsc_base;
            if (elapsed < lc_tsc_window)
                return lc_handed(lc_wall_base + (double)elapsed * lc_sec_per_tick);
        }
        return lanecore_event_clock_slow();
    }

    static void lanecore_event_clock_enable(void) {
        lc_tsc_on = 1;
        lc_tsc_base = 0;
        lc_sec_per_tick = 0.0;
    }
    static int lanecore_event_clock_uses_tsc(void) { return lc_tsc_on && lc_sec_per_tick > 0.0; }
    #else
    #define LANECORE_EVENT_CLOCK_CAN_USE_TSC 0
    static CYTHON_INLINE double lanecore_event_clock(void) {
        return lanecore_wallclock();
    }
    static void lanecore_event_clock_enable(void) {}
    static int lanecore_event_clock_uses_tsc(void) { return 0; }
    #endif
    """
    bint EVENT_CLOCK_CAN_USE_TSC "LANECORE_EVENT_CLOCK_CAN_USE_TSC"
    double lanecore_event_clock() noexcept nogil
    void lanecore_event_clock_enable() noexcept nogil
    bint lanecore_event_clock_uses_tsc() noexcept nogil
