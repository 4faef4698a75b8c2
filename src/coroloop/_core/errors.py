"""Where the loop's errors go: the exception handler and asyncio's log format.

Every error the loop cannot raise to a caller (a callback that failed, a future
whose exception nobody retrieved, a transport's fatal error...) becomes a
*context* dict (``message``, ``exception``, and the objects involved) handed to
``loop.call_exception_handler``.  That calls the handler set with
``set_exception_handler``, or ``loop.default_exception_handler``, which logs
the context in asyncio's format on asyncio's logger.  A handler that raises is
reported in turn, never propagated into the loop.

The handler runs in the context of the task, future or handle the error is about
(gh-96704), so it sees that code's context variables.
"""

from __future__ import annotations

import asyncio.log as _alog
import traceback

__all__ = ["ErrorReporter", "logger"]

logger = _alog.logger  # shared with asyncio, so existing logging setups keep working

# Keys whose value is a list of frames, with the heading they are printed under.
_TRACEBACK_KEYS = {
    "source_traceback": "Object created at (most recent call last):\n",
    "handle_traceback": "Handle created at (most recent call last):\n",
}


class ErrorReporter:
    """One loop's exception handler, and the way a context reaches it."""

    def __init__(self, loop) -> None:
        self._loop = loop
        #: set_exception_handler()'s handler, ``handler(loop, context)``; None: default.
        self.handler = None

    def set_handler(self, handler) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self.handler = handler

    def log(self, context) -> None:
        """``loop.default_exception_handler``: log *context* as asyncio does."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info = (type(exception), exception, exception.__traceback__) \
            if exception is not None else False
        handle_traceback = getattr(self._loop._current_handle, "_source_traceback", None)
        if "source_traceback" not in context and handle_traceback:
            context["handle_traceback"] = handle_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            heading = _TRACEBACK_KEYS.get(key)
            if heading is not None:
                value = heading + "".join(traceback.format_list(value)).rstrip()
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def report(self, context) -> None:
        """``loop.call_exception_handler``: hand *context* to the handler, in the
        context of the task or callback it is about."""
        owner = context.get("task") or context.get("future") or context.get("handle")
        get_context = getattr(owner, "get_context", None)
        owner_context = get_context() if get_context is not None else None
        if owner_context is not None:
            try:
                owner_context.run(self._dispatch, context)
                return
            except RuntimeError:
                pass  # that context is entered right now (we are inside it)
        self._dispatch(context)

    def _dispatch(self, context) -> None:
        loop = self._loop
        handler = self.handler
        if handler is None:
            try:
                loop.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            handler(loop, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                loop.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler while handling an "
                             "unexpected error in custom exception handler", exc_info=True)
