# spans.py: the Python side of this workspace's span model (sections 1.1 to 1.7), put in front
# of every Python program the demos run, so those programs use it without importing anything.
#
# A span is a named piece of work with the times it opened and closed and, for each stretch a
# thread spent inside it, that thread's CPU time at both ends. The Rust side records the same
# through `tracing` and draws both on one timeline: running where the CPU time advanced,
# waiting where it did not. Times come from time.monotonic_ns(), the clock Rust's Instant reads
# on Linux, and CPU time from time.thread_time_ns().
#
#   with span("request", i=3): ...                 a span this thread is inside while in the block
#   await traced("task", coroutine(), i=3)         every step of an asyncio task is one stretch,
#                                                  so the time it awaits shows as waiting
#   answer(result)                                 at the end: prints the spans and the result
import json
import os
import sys
import threading
import time

try:
    import resource

    def _switches():
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_nvcsw + usage.ru_nivcsw

except (ImportError, AttributeError):  # no per-thread counters outside Linux

    def _switches():
        return 0


ARGS = sys.argv[1:]
_SPANS = []


def _duration(ns):
    return {"secs": ns // 1_000_000_000, "nanos": ns % 1_000_000_000}


def _usage():
    return {"cpu": _duration(time.thread_time_ns()), "context_switches": _switches()}


class Span:
    """Opened when made; enter()/exit() around each stretch of work; close() once."""

    def __init__(self, name, **fields):
        self.name = name
        self.label = " ".join([name] + [str(value) for value in fields.values()])
        self.thread_id = threading.get_native_id()
        self.opened = time.monotonic_ns()
        self.runs = []
        self._entered = None

    def enter(self):
        self._entered = (threading.get_native_id(), time.monotonic_ns(), _usage())

    def exit(self):
        thread_id, start, at_start = self._entered
        self.runs.append(
            {
                "thread_id": thread_id,
                "start": _duration(start),
                "end": _duration(time.monotonic_ns()),
                "at_start": at_start,
                "at_end": _usage(),
            }
        )

    def close(self):
        _SPANS.append(
            {
                "name": self.name,
                "label": self.label,
                "pid": os.getpid(),
                "thread_id": self.thread_id,
                "opened": _duration(self.opened),
                "closed": _duration(time.monotonic_ns()),
                "runs": self.runs,
                "waiting_for": None,
            }
        )

    def __enter__(self):
        self.enter()
        return self

    def __exit__(self, *_):
        self.exit()
        self.close()


def span(name, **fields):
    return Span(name, **fields)


class _Traced:
    """Drives a coroutine step by step, each step one enter/exit of its span."""

    def __init__(self, span, coroutine):
        self.span, self.coroutine = span, coroutine

    def __await__(self):
        value, error = None, None
        try:
            while True:
                self.span.enter()
                try:
                    if error is None:
                        step = self.coroutine.send(value)
                    else:
                        step = self.coroutine.throw(error)
                except StopIteration as done:
                    return done.value
                finally:
                    self.span.exit()
                try:
                    value, error = (yield step), None
                except BaseException as thrown:  # cancellation reaches the coroutine too
                    value, error = None, thrown
        finally:
            self.span.close()


def traced(name, coroutine, **fields):
    """A coroutine that runs `coroutine` inside a span opened now (as a task is created)."""

    async def steps(traced_coroutine):
        return await traced_coroutine

    return steps(_Traced(Span(name, **fields), coroutine))


def answer(result):
    """Prints every span closed so far, then the result: the last thing a program does."""
    lines = [json.dumps({"clock": 0, "span": s}) for s in _SPANS]
    lines.append(json.dumps({"child_result": result}))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
