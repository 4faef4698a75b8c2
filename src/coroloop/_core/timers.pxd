# Cython declarations for timers.py (the compiled build; see setup.py).  The .py file
# is the implementation; this file only gives its names C types, so that the
# scheduler (loop.pxd cimports TimerQueue) reads the store's fields as C fields.
# Every field stays readable and writable from Python (``public``), as in the .py.
cimport cython

@cython.final
cdef class TimerQueue:
    cdef public list heap
    cdef public dict buckets
    cdef public Py_ssize_t count
    cdef public Py_ssize_t cancelled

    cpdef share(self, when, first, timer)
    cpdef fire(self, timer, ready)
    @cython.locals(timer=object)
    cpdef fire_all(self, list due, ready)
