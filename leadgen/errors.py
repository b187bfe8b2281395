"""Errors a user can act on.

Every failure that reaches a person (CLI, HTTP caller, build log) is one of these: it carries a
one-line message naming the thing at fault, so adapters print it instead of a traceback.
"""

from __future__ import annotations


class LeadgenError(Exception):
    """Base class: the message is shown to the user as is."""

    exit_code = 2


class InputError(LeadgenError):
    """A missing/unreadable input file or a column that does not exist."""


class ConfigError(LeadgenError):
    """An invalid flag, env var or configuration value."""


class ArtifactError(LeadgenError):
    """An artifact that is missing, corrupted (checksum) or built by another embedder."""


class StoreUnavailable(ArtifactError):
    """The artifact store could not be read (network, throttling, timeout, access): the artifact
    itself may be fine, so it is retried rather than refused."""


class QualityGateError(LeadgenError):
    """The build's quality figures are below the floor: the version is not published."""

    exit_code = 3


class LeakError(QualityGateError):
    """A column that looks like the outcome, or a holdout too good to be true: not built on
    unless the user allows it by name (leadgen.builder.leaks)."""


class CapacityError(LeadgenError):
    """The version needs more memory or /tmp than the deployed function has: not published."""

    exit_code = 4


class LeadValidationError(LeadgenError):
    """A lead whose field has a wrong type or value; ``field`` names it for a 4xx answer."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
