# Cython declarations for loop.py (the compiled build; see setup.py).  The .py file
# is the implementation; this file only gives C types to the scheduler's locals.
# A type named here is checked once, where the local is assigned: the timer store
# is coroloop's own TimerQueue, its heap a list, its buckets and the descriptor
# tables dicts, the descriptor watches coroloop's Readiness (whose poll() is then a
# C call; each object is created by coroloop and never replaced by another type).
cimport cython
from coroloop._core.timers cimport TimerQueue
from coroloop._core.readiness cimport Readiness

@cython.locals(timerq=TimerQueue, readiness=Readiness, timers=list, buckets=dict,
               readers=dict, writers=dict, tracking=Py_ssize_t)
cdef run_until_stopped(loop)
from coroloop._core.handles cimport new_handle, new_timer_handle
