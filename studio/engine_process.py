"""The engine in a child process, for the app. Started first thing, the child imports torch and
the pipelines and loads the weights on one core while the server imports gradio and comes up
on the other: the imports run one after another in any one process (README, Speed).

The app calls an `EngineProcess` as it would an `Engine`: requests (from any number of the
server's threads at once) go over a socket, each answered by its progress steps and then its
`Result` or its error, re-raised here as it was raised there (a bad prompt is a ValueError on
either side). The child runs each request in a thread of its own and stops when the socket
closes: when the app exits, or when this object is collected after a model swap.

    python -m studio.engine_process FD MODEL_DIR [SCHEDULER]   (what the parent starts)
"""

import itertools
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path

from studio.engine import REPO_ROOT, Engine, Result, read_card, write_result

REQUESTS = ("load", "generate", "edit")
STOPPED = "the model process stopped (see the server's log)"


class Channel:
    """The parent's end of the socket: sends requests and hands each answer to its caller.
    Its reader thread holds this, not the EngineProcess, so that can be collected."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.calls: dict[int, queue.Queue] = {}
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.stopped: str | None = None  # why no more answers will come
        threading.Thread(target=self.read_answers, daemon=True).start()

    def read_answers(self) -> None:
        try:
            while True:
                call, kind, value = self.connection.recv()
                with self.lock:
                    answers = self.calls.get(call)
                if answers is not None:  # None: its caller stopped waiting (its progress raised)
                    answers.put((kind, value))
        except (EOFError, OSError):
            with self.lock:
                self.stopped = STOPPED
                for answers in self.calls.values():
                    answers.put(("error", RuntimeError(self.stopped)))
            self.connection.close()

    def request(self, name: str, progress=None, **kwargs):
        with self.lock:
            if self.stopped:
                raise RuntimeError(self.stopped)
            call, answers = next(self.ids), queue.Queue()
            self.calls[call] = answers
            try:
                self.connection.send((call, name, kwargs))
            except OSError:
                del self.calls[call]
                raise RuntimeError(STOPPED) from None
        try:
            while True:
                kind, value = answers.get()
                if kind == "progress":
                    if progress is not None:
                        progress(*value)
                elif kind == "result":
                    return value
                else:
                    raise value
        finally:
            with self.lock:
                del self.calls[call]


class EngineProcess:
    """An `Engine` whose weights live in a child process, started (and loading) at once."""

    def __init__(self, model_dir: str | os.PathLike, scheduler: str | None = None):
        self.model_dir = Path(model_dir)
        ours, theirs = socket.socketpair()
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen([sys.executable, "-m", "studio.engine_process", str(theirs.fileno()),
                                    str(self.model_dir.resolve()), scheduler or ""], pass_fds=(theirs.fileno(),),
                                   env={**os.environ, "PYTHONPATH": path})
        theirs.close()
        self.pid = process.pid
        self._channel = Channel(Connection(ours.detach()))
        self._loaded: tuple[dict, str] | None = None  # (clip format, content hash) once loaded
        self._finalizer = weakref.finalize(self, _stop_child, process)

    def load(self) -> None:
        """Wait until the child has the weights; a ValueError if the folder cannot be loaded."""
        if self._loaded is None:
            self._loaded = self._channel.request("load")

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def clip_format(self) -> dict:
        self.load()
        return self._loaded[0]

    @property
    def content_hash(self) -> str:
        self.load()
        return self._loaded[1]

    def card(self) -> tuple[str | None, dict | None]:
        return read_card(self.model_dir)

    def generate(self, prompt: str, progress=None, **settings) -> Result:
        """`Engine.generate`, run by the child."""
        return self._channel.request("generate", progress, prompt=prompt, **settings)

    def edit(self, video_path: str, instruction: str, progress=None, **settings) -> Result:
        """`Engine.edit`, run by the child."""
        return self._channel.request("edit", progress, video_path=video_path, instruction=instruction, **settings)

    def write(self, result: Result, index: int, out_path: str | os.PathLike, **options) -> Path:
        return write_result(result, index, out_path, self.clip_format, **options)

    def close(self) -> None:
        """Stop the child now (it also stops when this object is collected or the app exits)."""
        self._finalizer()


def _stop_child(process: subprocess.Popen) -> None:
    """Nothing waits on the child any more: stop it (its socket closing ends the reader)."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---------------------------------------------------------------- the child


def transferable(error: Exception) -> Exception:
    """The error itself when it survives pickling, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def serve(connection: Connection, engine: Engine) -> None:
    """Answer requests until the socket closes, each in its own thread."""
    sending = threading.Lock()

    def send(message) -> None:
        with sending:
            connection.send(message)

    def run(call: int, name: str, kwargs: dict) -> None:
        try:
            if name not in REQUESTS:
                raise ValueError(f"unknown request {name!r}")
            if name == "load":
                engine.load()
                value = (engine.clip_format, engine.content_hash)
            else:
                value = getattr(engine, name)(progress=lambda done, total: send((call, "progress", (done, total))),
                                              **kwargs)
            answer = (call, "result", value)
        except Exception as error:  # every failure goes back to the request that caused it
            answer = (call, "error", transferable(error))
        try:
            send(answer)
        except OSError:
            pass  # the socket closed: the parent is gone
        except Exception as error:  # the result would not pickle
            send((call, "error", transferable(error)))

    while True:
        try:
            call, name, kwargs = connection.recv()
        except (EOFError, OSError):
            return
        threading.Thread(target=run, args=(call, name, kwargs), daemon=True).start()


def main() -> None:
    fd, model_dir, scheduler = int(sys.argv[1]), sys.argv[2], sys.argv[3] or None
    engine = Engine(model_dir, scheduler)
    threading.Thread(target=preload, args=(engine,), daemon=True).start()
    serve(Connection(fd), engine)


def preload(engine: Engine) -> None:
    """Load at once, while the server comes up; a request's own load reports any error."""
    try:
        engine.load()
    except Exception:
        pass


if __name__ == "__main__":
    main()
