"""Route the DICOM libraries' chatter to this module's debug log, so a file that decodes prints nothing.

Three sources wrote on stderr for files that were read in the end:

- pydicom's plugin loop (``pydicom.pixels.decoders.base``) logs a full
  traceback (``LOGGER.exception``) for every plugin that fails, even when the
  next one decodes the frame. When all of them fail the loop raises one
  RuntimeError naming each plugin's reason, which
  :func:`~.dicom_pixels.decode_error` turns into the file's one-line rejection;
  the tracebacks add nothing to that.
- pydicom's ``warn_and_log`` logs a warning on the ``pydicom`` logger *and*
  issues the same text as a UserWarning for what it tolerates while reading
  (a wrong VR, a non-conformant UID, padding). The intake reports what matters
  to the user itself (``check_uids``, de-identification warnings).
- GDCM's bundled libjpeg and OpenJPEG print to the process's native stderr
  (file descriptor 2): "Unsupported JPEG data precision 12" each time the
  12-bit retry of a JPEG Extended stream succeeds, and OpenJPEG's header
  complaints before a plugin refuses a stream.

:func:`install` (called once when the pixel decoders are set up) sends all
three to ``logger.debug``: run with LOG_LEVEL=DEBUG to see them. Records of
other levels and loggers are untouched.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

logger = logging.getLogger(__name__)

# Loggers of pydicom whose warnings (and plugin-failure tracebacks) go to debug.
PYDICOM_LOGGERS = ("pydicom", "pydicom.pixels.decoders.base", "pydicom.pixels.utils")
# Plugins that run GDCM's C++ code, which prints on native stderr.
GDCM_PLUGINS = ("gdcm", "oncoportal-gdcm-jpeg12")
_MARK = "_oncoportal_stderr_to_debug"


class _ToDebug(logging.Filter):
    """Re-log pydicom's warnings and per-plugin failure tracebacks at debug here; drop the original."""

    def filter(self, record: logging.LogRecord) -> bool:
        plugin_failure = record.exc_info is not None and record.name == "pydicom.pixels.decoders.base"
        if record.levelno >= logging.ERROR and not plugin_failure:
            return True  # a real error from pydicom stays as it is
        if logger.isEnabledFor(logging.DEBUG):
            what = "decoder plugin failed" if plugin_failure else "pydicom"
            logger.debug("%s: %s", what, record.getMessage())
        return False


_filter = _ToDebug()
_native_lock = threading.Lock()
_capture: dict[int, IO[bytes]] = {}  # pid -> its capture file (never shared across a fork)


@contextmanager
def native_stderr_to_debug(what: str) -> Iterator[None]:
    """Send what native code writes on file descriptor 2 meanwhile to the debug log.

    The GDCM calls hold the GIL (its SWIG wrapper never releases it), so no
    other Python thread writes in the meantime; only a native thread of
    another library could, and its text would land in this debug record.
    Without a usable descriptor 2 (a daemon that closed it) nothing is moved.
    """
    with _native_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        capture = _capture.get(os.getpid())
        if capture is None:
            # Kept open for the life of the process: one file, not one per frame.
            capture = _capture[os.getpid()] = tempfile.TemporaryFile()  # noqa: SIM115
        capture.seek(0)
        capture.truncate()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace").strip()
            if text:
                logger.debug("%s wrote on stderr: %s", what, " / ".join(text.splitlines()))


def _quiet(label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def decode(*args: Any, **kwargs: Any) -> Any:
        with native_stderr_to_debug(f"pixel-data plugin {label}"):
            return func(*args, **kwargs)

    setattr(decode, _MARK, True)
    return decode


def install() -> None:
    """Quiet pydicom's loggers and warnings and GDCM's native stderr; idempotent, once per process is enough.

    Call after every decoder plugin is registered (``gdcm_jpeg12.register``):
    the GDCM plugins are wrapped where pydicom keeps them.
    """
    for name in PYDICOM_LOGGERS:
        log = logging.getLogger(name)
        if _filter not in log.filters:
            log.addFilter(_filter)
    # warn_and_log's UserWarning repeats the log record filtered above.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")

    from pydicom.pixels.decoders.base import _PIXEL_DATA_DECODERS

    for decoder, _version in _PIXEL_DATA_DECODERS.values():
        available = decoder._available
        for label in GDCM_PLUGINS:
            func = available.get(label)
            if func is not None and not getattr(func, _MARK, False):
                available[label] = _quiet(label, func)
