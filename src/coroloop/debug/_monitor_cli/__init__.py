"""The command line of the monitor endpoint: ``ps``, ``pstree``, ``top``, ``dump`` and
``cancel PID`` (entries of ``coroloop._cli.COMMANDS``), and ``run --monitor``'s set-up
(``enable_monitor``, named by ``coroloop._cli.run.OPTIONS``).  Here, in the debug
layer, because the command line's registry names its commands and options by module
path and imports them only when used."""

from __future__ import annotations

import os
import sys

__all__ = ["enable_monitor"]


def enable_monitor(args) -> None:
    """``run --monitor`` / ``--monitor-allow-cancel``: serve every loop the program
    makes (``serve()`` with no loop running); unlike ``COROLOOP_MONITOR``, child
    processes do not inherit it."""
    from ..endpoint import serve

    allow_cancel = bool(getattr(args, "monitor_allow_cancel", False))
    endpoint = serve(allow_cancel=allow_cancel)
    if endpoint.path in _announced:  # both flags given: one endpoint, said once
        return
    _announced.add(endpoint.path)
    print(f"coroloop: monitor endpoint at {endpoint.path} (python -m coroloop ps "
          f"{os.getpid()})", file=sys.stderr)


_announced: set[str] = set()
