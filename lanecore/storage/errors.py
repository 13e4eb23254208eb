"""StorageError: a storage operation failed, with the database and the cause named."""

from __future__ import annotations

from lanecore.errors import LaneError


class StorageError(LaneError):
    """A storage operation failed. Nothing of it was written: a failed batch is rolled back
    as a whole, and every caller waiting on that batch gets its own StorageError.

    ``path`` names the database (``"memory"`` for MemoryStorage), ``operation`` what was
    attempted, and ``cause`` the underlying exception (also set as ``__cause__``), if any.
    """

    def __init__(self, path: str, operation: str, cause: BaseException | str) -> None:
        self.path = path
        self.operation = operation
        self.cause = cause if isinstance(cause, BaseException) else None
        if isinstance(cause, BaseException):
            code = getattr(cause, "sqlite_errorname", None)
            reason = f"{type(cause).__name__}: {cause}" + (f" ({code})" if code else "")
            self.__cause__ = cause
        else:
            reason = cause
        super().__init__(f"storage {path!r}: {operation} failed: {reason}")
