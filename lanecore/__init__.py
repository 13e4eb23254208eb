"""lanecore: prioritised lanes for asyncio work, on a compiled bitmap-indexed core.

``IMPLEMENTATION`` says which core loaded: "cython" (lanecore_pyx) or "python" (the twin).
"""

from lanecore._coreapi import NamedCommand
from lanecore._impl import IMPLEMENTATION
from lanecore._version import __version__
from lanecore.boost import PriorityBoostConfig
from lanecore.builder import QueueManagerBuilder
from lanecore.commands import Command
from lanecore.config import DEFAULT_LANES, LaneConfig
from lanecore.distributed import (
    CommandEnvelope,
    CommandResult,
    DistributedQueue,
    LocalDistributedQueue,
    WorkerId,
    WorkerPool,
    manager_executor,
)
from lanecore.dlq import DeadLetter, DeadLetterQueue
from lanecore.durable import UnknownCommandType
from lanecore.errors import (
    CommandTimeout,
    LaneError,
    LaneFull,
    LaneNotFound,
    NotPersisted,
    ShutdownInProgress,
)
from lanecore.events import EVENT_KEYS, EventStream, LaneEvent
from lanecore.handle import CommandHandle
from lanecore.manager import QueueManager
from lanecore.partition import (
    CustomPartitioner,
    HashPartitioner,
    PartitionConfig,
    Partitioner,
    PartitionId,
    PartitionStrategy,
    RoundRobinPartitioner,
)
from lanecore.ratelimit import RateLimitConfig
from lanecore.retry import RetryPolicy
from lanecore.stats import LaneStatus, QueueStats

__all__ = [
    "DEFAULT_LANES",
    "EVENT_KEYS",
    "IMPLEMENTATION",
    "Command",
    "CommandEnvelope",
    "CommandHandle",
    "CommandResult",
    "CommandTimeout",
    "CustomPartitioner",
    "DeadLetter",
    "DeadLetterQueue",
    "DistributedQueue",
    "EventStream",
    "HashPartitioner",
    "LaneConfig",
    "LaneError",
    "LaneEvent",
    "LaneFull",
    "LaneNotFound",
    "LaneStatus",
    "LocalDistributedQueue",
    "NamedCommand",
    "NotPersisted",
    "PartitionConfig",
    "PartitionId",
    "PartitionStrategy",
    "Partitioner",
    "PriorityBoostConfig",
    "QueueManager",
    "QueueManagerBuilder",
    "QueueStats",
    "RateLimitConfig",
    "RetryPolicy",
    "RoundRobinPartitioner",
    "ShutdownInProgress",
    "UnknownCommandType",
    "WorkerId",
    "WorkerPool",
    "__version__",
    "manager_executor",
]
