"""The writer thread: owns the SQLite connection and runs queued operations in call order.

Consecutive writes are grouped into one transaction (up to ``batch_max`` rows; an operation is
never split), and within it consecutive operations of the same statement into one
``executemany``. A read first lets the writes queued before it commit, so it sees them. After
the commit every waiter of the batch is settled: concurrent futures directly, asyncio futures
with one ``loop.call_soon_threadsafe`` per loop per batch, so a batch of 10,000 saves costs the
event loop one wake-up, and any running loop (asyncio, uvloop) works.

If a batch fails, it is rolled back and each of its waiters gets a StorageError; the writer
carries on with the next batch. If the connection cannot even roll back, the storage closes
itself: queued and later operations fail with StorageError instead of hanging.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, islice
from typing import Any

from lanecore.storage._schema import MultiRow
from lanecore.storage.errors import StorageError

Row = tuple[Any, ...]


def execute_chunked(conn: sqlite3.Connection, multi: MultiRow, rows: Iterable[Row]) -> None:
    """Run ``rows`` through the many-rows form of their statement, ``multi.chunk`` at a time."""
    it = iter(rows)
    chunk = multi.chunk
    while True:
        part = list(islice(it, chunk))
        if not part:
            return
        conn.execute(multi.sql(len(part)), list(chain.from_iterable(part)))
        if len(part) < chunk:
            return


Work = Callable[[sqlite3.Connection], Any]
Settlement = tuple[asyncio.Future[Any], Any, BaseException | None]


class Op:
    """One queued operation: rows for a statement (``sql``), or a function of the connection
    (``work``); ``read`` ops run outside any write transaction. ``size`` counts toward
    batch_max. The waiter is an asyncio future (with its ``loop``), a concurrent future, or
    None."""

    __slots__ = ("cfuture", "future", "loop", "name", "read", "rows", "size", "sql", "work")

    def __init__(
        self,
        name: str,
        *,
        sql: str | None = None,
        rows: Sequence[Row] = (),
        work: Work | None = None,
        read: bool = False,
    ) -> None:
        self.name = name
        self.sql = sql
        self.rows = rows
        self.work = work
        self.read = read
        self.size = max(len(rows), 1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future[Any] | None = None
        self.cfuture: concurrent.futures.Future[Any] | None = None


_STOP = Op("stop")  # queued by close(): the thread finishes what is before it, then exits


def _settle_on_loop(items: list[Settlement]) -> None:
    for future, result, error in items:
        if future.done():  # the caller cancelled it; the operation was done anyway
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class Writer:
    """The thread owning one SQLite connection; see the module docstring."""

    def __init__(
        self,
        name: str,
        connect: Callable[[], sqlite3.Connection],
        *,
        batch_max: int,
        flush_interval: float,
        multi_row: Mapping[str, MultiRow] | None = None,
    ) -> None:
        self.name = name
        self._multi_row: Mapping[str, MultiRow] = multi_row or {}
        self.transactions = 0
        self.failed_batches = 0
        self._connect = connect
        self._batch_max = batch_max
        self._flush_interval = flush_interval
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closing: str | None = None  # why new operations are refused, once closing
        self._opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.closed: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._main, name=f"lanecore-storage {name}", daemon=True
        )
        self._thread.start()
        self._opened.result()  # re-raises the StorageError of a failed open

    # ------------------------------------------------------------------ caller side

    def submit(self, op: Op) -> None:
        """Queue ``op``; StorageError at once if the storage is closed or closing."""
        with self._lock:
            if self._closing is not None:
                raise StorageError(self.name, op.name, self._closing)
            self._queue.put(op)

    def check_open(self, operation: str) -> None:
        """StorageError naming ``operation`` if operations are no longer taken."""
        closing = self._closing
        if closing is not None:
            raise StorageError(self.name, operation, closing)

    def close(self) -> concurrent.futures.Future[None]:
        """Stop taking operations; the thread finishes the queued ones, then closes."""
        with self._lock:
            if self._closing is None:
                self._closing = "the storage is closed"
                self._queue.put(_STOP)
        return self.closed

    # ------------------------------------------------------------------ writer thread

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._closing = "the storage could not be opened"
            self._opened.set_exception(exc)
            self.closed.set_result(None)
            return
        self._opened.set_result(None)
        try:
            self._serve(conn)
        except BaseException as exc:  # a bug, not an SQLite error: fail loudly, never hang
            self._shut(f"the storage failed: {exc!r}")
            raise
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._fail_queued()
            self.closed.set_result(None)

    def _serve(self, conn: sqlite3.Connection) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        carry: Op | None = None
        while True:
            op = carry if carry is not None else get()
            carry = None
            if op is _STOP:
                return
            if op.read:
                self._run_read(conn, op)
                continue
            batch, rows = [op], op.size
            deadline = 0.0
            while rows < self._batch_max:
                try:
                    nxt = get_nowait()
                except queue.Empty:
                    if self._flush_interval <= 0:
                        break
                    now = time.monotonic()
                    if not deadline:
                        deadline = now + self._flush_interval
                    if now >= deadline:
                        break
                    try:
                        nxt = get(timeout=deadline - now)
                    except queue.Empty:
                        break
                if nxt is _STOP or nxt.read:
                    carry = nxt
                    break
                batch.append(nxt)
                rows += nxt.size
            if not self._run_batch(conn, batch):
                return

    def _run_read(self, conn: sqlite3.Connection, op: Op) -> None:
        assert op.work is not None
        try:
            result = op.work(conn)
        except Exception as exc:
            self._settle([op], None, exc)
        else:
            self._settle([op], [result], None)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Op]) -> bool:
        """Run ``batch`` in one transaction; False if the connection is no longer usable."""
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            i, n = 0, len(batch)
            while i < n:
                op = batch[i]
                if op.work is not None:
                    results.append(op.work(conn))
                    i += 1
                    continue
                j = i + 1
                while j < n and batch[j].sql == op.sql and batch[j].work is None:
                    j += 1
                assert op.sql is not None
                rows = op.rows if j == i + 1 else chain.from_iterable(b.rows for b in batch[i:j])
                multi = self._multi_row.get(op.sql)
                if multi is None:
                    conn.executemany(op.sql, rows)
                else:
                    execute_chunked(conn, multi, rows)
                results.extend([None] * (j - i))
                i = j
            conn.execute("COMMIT")
        except Exception as exc:
            self.failed_batches += 1
            usable = self._rollback(conn)
            self._settle(batch, None, exc)
            if not usable:
                self._shut(f"the storage closed after a failed rollback ({exc!r})")
            return usable
        self.transactions += 1
        self._settle(batch, results, None)
        return True

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> bool:
        if not conn.in_transaction:  # SQLite already rolled back (e.g. on SQLITE_FULL)
            return True
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return not conn.in_transaction

    def _settle(
        self, ops: list[Op], results: list[Any] | None, error: BaseException | str | None
    ) -> None:
        """Complete every waiter of ``ops``: results[i] for op i, or a StorageError each."""
        per_loop: dict[asyncio.AbstractEventLoop, list[Settlement]] = {}
        for i, op in enumerate(ops):
            if op.future is None and op.cfuture is None:
                continue
            exc: BaseException | None = None
            result = None
            if error is not None:
                what = op.name if len(ops) == 1 else f"{op.name} (in a batch of {len(ops)})"
                exc = StorageError(self.name, what, error)
            elif results is not None:
                result = results[i]
            if op.future is not None:
                assert op.loop is not None
                per_loop.setdefault(op.loop, []).append((op.future, result, exc))
            elif op.cfuture is not None and op.cfuture.set_running_or_notify_cancel():
                if exc is None:
                    op.cfuture.set_result(result)
                else:
                    op.cfuture.set_exception(exc)
        for loop, items in per_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_on_loop, items)

    def _shut(self, reason: str) -> None:
        with self._lock:
            self._closing = reason

    def _fail_queued(self) -> None:
        """Fail whatever is still queued (nothing can be queued once _closing is set)."""
        self._shut(self._closing or "the storage is closed")
        leftover: list[Op] = []
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not _STOP:
                leftover.append(op)
        for op in leftover:
            self._settle([op], None, self._closing or "the storage is closed")
