# Cython declarations for readiness.py (the compiled build; see setup.py).  The .py
# file is the implementation; this file only gives its names C types, so that the
# scheduler (loop.pxd cimports Readiness) calls poll() as a C method and poll() reads
# the tables and its cached fields as C fields.  The public fields stay readable and
# writable from Python (``public``), as in the .py.
cimport cython

@cython.final
cdef class Readiness:
    cdef public dict readers
    cdef public dict writers
    cdef public dict watched_objects
    cdef public object poller
    cdef public object waker
    cdef public object _loop
    cdef object _ready
    cdef object _waker_fd
    cdef object _readable
    cdef object _writable

    @cython.locals(readers=dict, writers=dict)
    cpdef poll(self, timeout)
