"""Partitioning (a3s-lane's ``partition`` module): which of N partitions a command goes to.

A partitioner maps a command (its command type) to a ``PartitionId`` in ``0..N-1``; a
coordinator uses it to fill ``CommandEnvelope.partition_id`` before enqueueing.
"""

from __future__ import annotations

import enum
import itertools
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lanecore._durations import check_int
from lanecore.commands import command_type_of

PartitionId = int
"""A partition's index, in ``0..num_partitions-1``."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


def command_type_for(command: object) -> str:
    """The command type a partitioner keys on: a str is the type itself; an envelope or a
    command object gives its ``command_type``; a callable its qualified name."""
    return command if isinstance(command, str) else command_type_of(command)


@runtime_checkable
class Partitioner(Protocol):
    """Chooses a command's partition (a3s-lane's trait, synchronous here: nothing awaits)."""

    def partition(self, command: object, num_partitions: int) -> PartitionId:
        """A partition id in ``0..num_partitions-1`` for ``command`` (a command type str,
        a ``CommandEnvelope`` or a command object)."""
        ...


class RoundRobinPartitioner:
    """Spreads commands evenly: 0, 1, ..., N-1, 0, ... regardless of their type."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def partition(self, command: object, num_partitions: int) -> PartitionId:
        check_int("num_partitions", num_partitions, 1)
        return next(self._counter) % num_partitions


class HashPartitioner:
    """Sends every command of one type to the same partition: CRC-32 of the UTF-8 command
    type, mod N. Stable across processes and hosts (unlike Python's salted ``hash()``)."""

    def partition(self, command: object, num_partitions: int) -> PartitionId:
        check_int("num_partitions", num_partitions, 1)
        return zlib.crc32(command_type_for(command).encode("utf-8")) % num_partitions


class CustomPartitioner:
    """Asks ``fn(command_type)`` for the partition; its answer must already be in range
    (a3s-lane reduces it mod N; here an out-of-range answer is a bug worth seeing)."""

    def __init__(self, fn: Callable[[str], int]) -> None:
        if not callable(fn):
            raise TypeError(f"CustomPartitioner needs a callable(command_type) -> int, got {fn!r}")
        self._fn = fn

    def partition(self, command: object, num_partitions: int) -> PartitionId:
        check_int("num_partitions", num_partitions, 1)
        command_type = command_type_for(command)
        got = self._fn(command_type)
        if isinstance(got, bool) or not isinstance(got, int):
            raise TypeError(
                f"custom partitioner returned {got!r} for command type {command_type!r}; "
                "it must return an int"
            )
        if not 0 <= got < num_partitions:
            raise ValueError(
                f"custom partitioner returned {got} for command type {command_type!r}; "
                f"it must be in 0..{num_partitions - 1}"
            )
        return got


class PartitionStrategy(enum.Enum):
    """How ``PartitionConfig.create_partitioner()`` partitions."""

    ROUND_ROBIN = "round_robin"
    HASH = "hash"
    NONE = "none"  # a single partition


@dataclass(frozen=True)
class PartitionConfig:
    """Number of partitions and the strategy; checked here so a bad config fails at once.
    The default (like ``auto()``) is one partition per CPU, round-robin."""

    num_partitions: int = field(default_factory=_cpu_count)
    strategy: PartitionStrategy = PartitionStrategy.ROUND_ROBIN

    def __post_init__(self) -> None:
        check_int("num_partitions", self.num_partitions, 1)
        strategy: object = self.strategy
        if isinstance(strategy, str):
            try:
                strategy = PartitionStrategy(strategy)
            except ValueError:
                names = ", ".join(repr(s.value) for s in PartitionStrategy)
                raise ValueError(f"strategy must be one of {names}, got {strategy!r}") from None
            object.__setattr__(self, "strategy", strategy)
        elif not isinstance(strategy, PartitionStrategy):
            raise TypeError(f"strategy must be a PartitionStrategy or str, got {strategy!r}")
        if strategy is PartitionStrategy.NONE and self.num_partitions != 1:
            raise ValueError(
                f"strategy 'none' means a single partition, got num_partitions="
                f"{self.num_partitions}"
            )

    @classmethod
    def auto(cls) -> PartitionConfig:
        """One partition per CPU (``os.cpu_count()``), round-robin."""
        return cls(_cpu_count(), PartitionStrategy.ROUND_ROBIN)

    @classmethod
    def hash(cls, num_partitions: int) -> PartitionConfig:
        """Hash of the command type: one type always lands on one partition."""
        return cls(num_partitions, PartitionStrategy.HASH)

    @classmethod
    def round_robin(cls, num_partitions: int) -> PartitionConfig:
        """Even spread over ``num_partitions``."""
        return cls(num_partitions, PartitionStrategy.ROUND_ROBIN)

    @classmethod
    def none(cls) -> PartitionConfig:
        """No partitioning: a single partition."""
        return cls(1, PartitionStrategy.NONE)

    def create_partitioner(self) -> Partitioner:
        """A fresh partitioner for the strategy (NONE: round-robin over its one partition)."""
        if self.strategy is PartitionStrategy.HASH:
            return HashPartitioner()
        return RoundRobinPartitioner()
