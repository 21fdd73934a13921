"""Atomic, deterministic writing of result files, and logging for workflow jobs."""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    An interrupted job therefore never leaves a file under the final name; the
    temporaries of a job that was killed (``.<name>.*.part``) are removed by the next
    write of the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results private
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as CSV (no index, ``\\n`` line ends, round-trip float repr)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON with sorted keys."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class ResultFileError(ValueError):
    """A file the workflow reads cannot be used (damaged, truncated or of another kind)."""


def unreadable(path: str | Path, what: str, why: str) -> ResultFileError:
    """The error for a file at ``path`` that is not a usable ``what``, with the way out."""
    return ResultFileError(
        f"{path}: cannot be read as {what} ({why}). If it is a result of this workflow, "
        f"make it again: rerun with --forcerun {path} (make paper FORCE={path}, with the "
        "same CONFIG=); otherwise restore it"
    )


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _require(path: str | Path, what: str, found: Any, required: Iterable[str]) -> None:
    missing = [key for key in required if key not in found]
    if missing:
        raise unreadable(path, what, f"it lacks {missing}; found {list(found)[:20]}")


def read_parquet(
    path: str | Path, columns: list[str] | None = None, required: Iterable[str] = ()
) -> pd.DataFrame:
    """The parquet table at ``path`` (only ``columns`` where given); a damaged file, or one
    without ``columns`` or ``required`` columns, raises ResultFileError naming it."""
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except FileNotFoundError:
        raise
    except Exception as err:  # pyarrow raises many kinds for a damaged or foreign file
        raise unreadable(path, "a parquet table", _error(err)) from None
    _require(path, "a table of this workflow", names, [*(columns or ()), *required])
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as err:
        raise unreadable(path, "a parquet table", _error(err)) from None


def read_csv(
    path: str | Path, required: Iterable[str] = (), what: str = "a CSV table", **options: Any
) -> pd.DataFrame:
    """The CSV file at ``path`` (``options`` for pandas); a damaged file, or one without
    the ``required`` columns, raises ResultFileError naming it as not ``what``."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, **options)
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError) as err:  # pandas' ParserError is a ValueError
        raise unreadable(path, what, _error(err)) from None
    with open(path, "rb") as fh:  # written whole, a table ends with its last line's end
        fh.seek(max(0, Path(path).stat().st_size - 1))
        if fh.read(1) != b"\n":
            raise unreadable(path, what, "its last line has no line end: cut short?")
    _require(path, what, frame.columns, required)
    return frame


def read_json(path: str | Path, required: Iterable[str] | None = None) -> Any:
    """The JSON document at ``path``; a damaged one raises ResultFileError naming it, as
    does, when ``required`` is given (even empty), one that is not a mapping with those
    keys."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise unreadable(path, "JSON", _error(err)) from None
    if required is not None:
        if not isinstance(data, dict):
            raise unreadable(path, "a JSON mapping", f"it is a {type(data).__name__}")
        _require(path, "a file of this workflow", data, required)
    return data


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to stderr and, when given, to ``log_path`` (the rule's ``log:`` file), and
    send an uncaught error to both (with its traceback).

    Other libraries log warnings only; the package logs at ``level``.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    logger = logging.getLogger("lossscale")
    logger.setLevel(level)
    sys.excepthook = _log_uncaught
    return logger


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """Write an error that ends the job to the job's log as well as to stderr, so that the
    log file (``logs/...``) says why the job failed (a full disk, a damaged input)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("lossscale").critical(
        "the job failed: %s", error, exc_info=(kind, error, trace)
    )
