"""Groups: the outstanding commands of each group (``submit(..., group="session-7")``), so a
whole group is cancelled in O(its size), not by scanning every command.

Only grouped commands are tracked (a set entry and a done callback each); others cost
nothing here.
"""

from __future__ import annotations

from typing import Any


def check_group(group: object) -> str:
    """``group`` as given, if it is a non-empty str; TypeError/ValueError naming it otherwise."""
    if not isinstance(group, str):
        raise TypeError(f"group must be a non-empty str, got {group!r}")
    if not group:
        raise ValueError("group must be a non-empty str, got ''")
    return group


class Groups:
    """Outstanding handles by group; a handle leaves its group when it is resolved."""

    __slots__ = ("_members",)

    def __init__(self) -> None:
        self._members: dict[str, set[Any]] = {}

    def add(self, group: str, handle: Any) -> None:
        """Track ``handle`` (an outstanding asyncio future) as a member of ``group``."""
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = set()
        members.add(handle)
        handle.add_done_callback(self._resolved)

    def _resolved(self, handle: Any) -> None:
        group = handle._group
        members = self._members.get(group)
        if members is not None:
            members.discard(handle)
            if not members:
                del self._members[group]

    def size(self, group: str) -> int:
        """Outstanding commands of ``group`` (0 for a group never seen)."""
        members = self._members.get(check_group(group))
        return 0 if members is None else len(members)

    def members(self, group: str) -> list[Any]:
        """The outstanding handles of ``group``, in no particular order."""
        members = self._members.get(check_group(group))
        return [] if members is None else list(members)

    def cancel(self, group: str) -> int:
        """Cancel every outstanding member of ``group``; return how many were cancelled."""
        members = self._members.pop(check_group(group), None)
        if members is None:
            return 0
        return sum(1 for handle in members if handle.cancel())

    def names(self) -> list[str]:
        """The groups with outstanding commands."""
        return list(self._members)
