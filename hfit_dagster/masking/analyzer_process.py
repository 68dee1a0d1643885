"""The text analyzer in a process of its own (``analyzer_process``, on by default for builds).

Why: building the analyzer (importing Presidio and spaCy, loading the model, compiling Presidio's patterns: ~1 s of
CPU) holds the GIL nearly all the time, so on a build's thread it stalls the build's own start (imports, reading,
structured masking) for as long. In a child process it runs on the other core beside them, and the texts it then
analyzes cost the build's process no GIL either.

- **One child per configuration and process**, started on first use (or by ``start``, to overlap its build), kept
  for the life of the process (a service or Dagster worker builds many packages with one model load) and ended
  with it: the child exits when its request pipe closes, or within a second of its parent's end (it watches its
  parent: a forked copy of the parent may keep the pipe open, a long request may be under way).
- **What crosses**: lists of texts one way, ``(entity, start, end, score)`` tuples back, pickled over a pair of
  pipes (memory only: nothing is written anywhere), each reply naming the request it answers. The child answers
  exactly what :meth:`~hfit_dagster.masking.text_analysis.TextAnalyzer.analyze_many` answers in process (tested
  equal). A call that does not complete (an error, an interrupt) ends the child, so no reply is left in the pipe
  for the next call.
- **Forks**: a process forked from one that holds an analyzer process starts its own (the pipes and the lock,
  perhaps held by a thread that is not in the copy, are its parent's).
- **Errors**: a failure in the child comes back as a :class:`~hfit_dagster.errors.MaskingError`; hfit's own
  errors keep their message and hint, any other error is named by its type only (its message could quote a
  text). A child that ends unexpectedly is an error of the call that meets it, and the next use starts a new one.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from hfit_dagster.errors import MaskingError

# the child's program: watch the parent (its pid is the third argument) from the start, then import and serve
_CHILD = ("import sys; from hfit_dagster.masking.analyzer_process import watch_parent; watch_parent(int(sys.argv[3])); "
          "from hfit_dagster.masking.analyzer_child import main; main()")


class FoundSpan:
    """One finding of the analyzer process, read like a Presidio ``RecognizerResult``."""

    __slots__ = ("end", "entity_type", "score", "start")

    def __init__(self, entity_type: str, start: int, end: int, score: float) -> None:
        self.entity_type, self.start, self.end, self.score = entity_type, start, end, score

    def __repr__(self) -> str:
        return f"FoundSpan({self.entity_type!r}, {self.start}, {self.end}, {self.score:.2f})"


class AnalyzerProcess:
    """A child process holding a :class:`~hfit_dagster.masking.text_analysis.TextAnalyzer` of ``config`` (its
    constructor's keyword arguments); calls from several threads are served one at a time."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._requests: io.BufferedWriter | None = None
        self._replies: io.BufferedReader | None = None
        self._ready = False
        self._sent = 0  # requests sent to the current child: each reply names the request it answers
        _ALL.add(self)

    def start(self) -> None:
        """Start the child (its analyzer is built there, beside whatever this process does meanwhile); returns at
        once when another thread is using it (it runs, then)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._start()
        finally:
            self._lock.release()

    def wait_ready(self) -> None:
        """Block until the child's analyzer is built (raises its build error)."""
        with self._lock:
            self._start()
            self._guarded(self._await_ready)

    def analyze_many(self, texts: list[str], batch_size: int) -> list[list[FoundSpan]]:
        """The child's analyzer's findings per text."""
        with self._lock:
            self._start()
            self._guarded(self._await_ready)
            found = self._guarded(lambda: self._call(texts, batch_size))
        return [[FoundSpan(*t) for t in spans] for spans in found]

    def close(self, wait_s: float = 5.0) -> None:
        """End the child (it exits when its request pipe closes); killed when another thread keeps it busy for
        longer than ``wait_s``."""
        if self._lock.acquire(timeout=wait_s):
            try:
                self._stop()
            finally:
                self._lock.release()
            return
        child = self._child
        if child is not None:
            child.kill()

    def forget_after_fork(self) -> None:
        """In a forked copy of this process: the child, its pipes and the lock (perhaps held by a thread that is
        not in the copy) are the parent's; the copy starts its own child when it needs one."""
        self._lock = threading.Lock()
        self._child, self._requests, self._replies, self._ready, self._sent = None, None, None, False, 0

    # -- the pipes ---------------------------------------------------------------------------------------
    def _guarded(self, step: Callable[[], Any]) -> Any:
        """``step()``; if it did not complete but with an answer (an interrupt, an error of this process), the
        child is killed at once: a reply left unread in its pipe would otherwise answer the next request."""
        try:
            return step()
        except MaskingError:
            raise  # an answer of the child (the pipe is in step), or a lost child (stopped already)
        except BaseException:
            self._stop(kill=True)
            raise

    def _start(self) -> None:
        if self._child is not None and self._child.poll() is None and self._requests is not None:
            return
        self._stop(kill=True)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # the child imports hfit from where this process does (a directory added at run time included); it gets
        # none of hfit's settings (keys, provider URLs): its configuration comes over the pipe
        path = os.pathsep.join(os.getcwd() if p == "" else p for p in sys.path if p == "" or os.path.exists(p))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HFIT_")}
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-P", "-c", _CHILD, str(to_child_r), str(from_child_w), str(os.getpid())],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                close_fds=True, env={**env, "PYTHONPATH": path})
            self._requests = os.fdopen(to_child_w, "wb")
            self._replies = os.fdopen(from_child_r, "rb")
        except BaseException:
            for fd in (to_child_w, from_child_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._requests = self._replies = None
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._ready, self._sent = False, 0
        self._requests.write(pickle.dumps(self.config))
        self._requests.flush()

    def _await_ready(self) -> None:
        if not self._ready:
            self._receive(0)
            self._ready = True

    def _call(self, texts: list[str], batch_size: int) -> Any:
        assert self._requests is not None
        self._sent += 1
        try:
            self._requests.write(pickle.dumps((self._sent, texts, batch_size), protocol=pickle.HIGHEST_PROTOCOL))
            self._requests.flush()
        except OSError:
            raise self._lost() from None
        return self._receive(self._sent)

    def _receive(self, request: int) -> Any:
        """The child's answer to ``request`` (0: its analyzer's build); an error it reports is raised (after the
        build's, the child is stopped: it has ended, and the next use starts another)."""
        assert self._replies is not None
        try:
            answered, status, value = pickle.load(self._replies)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError):
            raise self._lost() from None
        if answered != request:
            raise self._lost()
        if status == "error":
            message, hint = value
            if request == 0:
                self._stop(kill=True)
            raise MaskingError(message, hint=hint)
        return value

    def _lost(self) -> MaskingError:
        child = self._child
        self._stop(kill=True)
        return MaskingError(f"the text analyzer's process ended unexpectedly (exit code "
                            f"{child.returncode if child is not None else None})",
                            hint="run the build again; if it recurs, set HFIT_ANALYZER_PROCESS=false to analyze "
                                 "text in the build's own process")

    def _stop(self, kill: bool = False) -> None:
        """Close the pipes and reap the child: killed when ``kill`` (it may be busy with a request nobody will
        read), else given 5 s to see its pipe closed and exit."""
        child, self._child = self._child, None
        pipes, self._requests, self._replies = (self._requests, self._replies), None, None
        self._ready = False
        try:
            for pipe in pipes:
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
        finally:
            if child is not None:
                if kill:
                    child.kill()
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


_ALL: weakref.WeakSet[AnalyzerProcess] = weakref.WeakSet()
_SHARED: dict[str, AnalyzerProcess] = {}
_SHARED_LOCK = threading.Lock()


def shared_process(config: dict[str, Any]) -> AnalyzerProcess:
    """The process of this configuration, made once per process (see the module docstring)."""
    key = repr(sorted(config.items()))
    with _SHARED_LOCK:
        process = _SHARED.get(key)
        if process is None:
            process = _SHARED[key] = AnalyzerProcess(config)
        return process


def _forget_after_fork() -> None:
    """In a forked copy: every analyzer process, and the lock of the shared ones, are the parent's."""
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for process in list(_ALL):
        process.forget_after_fork()


os.register_at_fork(after_in_child=_forget_after_fork)


def watch_parent(parent: int) -> None:
    """In the analyzer's process: end it once ``parent`` is gone (even while a request is analyzed, or while a
    forked copy of the parent keeps the request pipe open). Started before the heavy imports."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    if os.getppid() != parent:
        os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def close_shared_processes() -> None:
    """End every analyzer process of this process and wait for them (``hfit`` before it exits, so their CPU counts
    in the command's; tests). Without it they end within a second of this process's end."""
    with _SHARED_LOCK:
        processes = list(_SHARED.values())
        _SHARED.clear()
    for process in processes:
        process.close()
