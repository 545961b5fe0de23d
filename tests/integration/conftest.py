"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from .lab import lab


@pytest.fixture
def lab_is_up():
    """The lab, brought up if it is not (lab.sh up is idempotent)."""
    lab("up")
