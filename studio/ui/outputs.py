"""Where the app writes: one folder per request under a temporary root, swept by age and
removed at exit, so a long-running Space neither fills its disk nor writes anywhere else
(Gradio's own copies of what it serves are aged out by the Blocks' `delete_cache`).
FLIPBOOK_OUTPUT_MAX_AGE_S sets how long a request's folder is kept (default an hour)."""

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

DEFAULT_MAX_AGE_S = 3600.0  # long enough to compare, download and edit again within a session
MAX_AGE_ENV = "FLIPBOOK_OUTPUT_MAX_AGE_S"


class OutputRoot:
    def __init__(self, root: str | os.PathLike | None = None, max_age_s: float | None = None):
        """`root=None` makes a fresh folder in the system temp folder, removed at exit; a given
        root is kept (only the request folders in it are swept). `max_age_s=None` reads
        $FLIPBOOK_OUTPUT_MAX_AGE_S, else keeps folders an hour."""
        self.owned = root is None
        self.path = Path(tempfile.mkdtemp(prefix="flipbook-")) if root is None else Path(root)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_age_s = float(os.environ.get(MAX_AGE_ENV, DEFAULT_MAX_AGE_S)) if max_age_s is None else max_age_s
        self._lock = threading.Lock()
        atexit.register(self.cleanup)

    def new_request(self, kind: str) -> Path:
        """A fresh, empty folder for one request's files."""
        self.sweep()
        folder = self.path / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder

    def sweep(self, max_age_s: float | None = None) -> int:
        """Remove request folders older than `max_age_s`; returns how many went."""
        cutoff = time.time() - (self.max_age_s if max_age_s is None else max_age_s)
        removed = 0
        with self._lock:
            for folder in self.path.glob("*-*-*-*"):
                try:
                    if folder.is_dir() and folder.stat().st_mtime < cutoff:
                        shutil.rmtree(folder, ignore_errors=True)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def cleanup(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.sweep(max_age_s=-1)
