"""The A/B hook the router calls: the contract between :mod:`llmops.router` and :mod:`llmops.ab`.

The router depends on these Protocols only; ``llmops.ab.assignment.ABAssigner`` implements them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

__all__ = ["ABAssignerProtocol", "Assignment"]


class Assignment(Protocol):
    """The variant a unit is assigned to, and what that variant is served with."""

    @property
    def test_id(self) -> UUID: ...
    @property
    def variant_id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


@runtime_checkable
class ABAssignerProtocol(Protocol):
    """Assigns a call to a variant of a named A/B test."""

    def assign(
        self, test: str, *, session_id: str | None, user_id: str | None, now: datetime
    ) -> Assignment | None:
        """The assignment; None when the test is inactive, outside its dates or the unit is not
        enrolled. Raises :class:`llmops.errors.NotFound` when no test has that name."""
        ...
