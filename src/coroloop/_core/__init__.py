"""coroloop's core: scheduler, clock, poller, Future, Task and instrumentation hooks.

Everything else in coroloop is built on the names this package exports; nothing
outside ``_core`` may reach into these modules' private attributes.
"""
