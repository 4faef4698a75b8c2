# Cython declarations for handles.py (the compiled build; see setup.py).  The .py
# file is the implementation.  The handle classes stay Python classes (they
# subclass asyncio's Handle, which an extension type cannot); the constructors
# the loop's hot paths use are declared so that loop.py calls them as C functions.
cpdef new_handle(callback, args, loop, context, _new=*, _cls=*)
cpdef new_timer_handle(when, callback, args, loop, context, _new=*, _cls=*)
