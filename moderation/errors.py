"""Every error the moderation package raises; all derive from ``ModerationError``."""

from __future__ import annotations


class ModerationError(Exception):
    """Root of the moderation errors."""


class DuplicateReport(ModerationError):
    """The reporter has already reported this message (one report per member and message)."""

    def __init__(self, existing_report_id: str) -> None:
        super().__init__(f"this message was already reported by this member ({existing_report_id})")
        self.existing_report_id = existing_report_id


class UnknownReport(ModerationError):
    """No report has this id (it may have been purged after its retention)."""

    def __init__(self, report_id: str) -> None:
        super().__init__(f"no report {report_id!r}")
        self.report_id = report_id


class AlreadyResolved(ModerationError):
    """A second decision on a report: the first facilitator's decision stands."""

    def __init__(self, report_id: str) -> None:
        super().__init__(f"report {report_id!r} is already resolved")
        self.report_id = report_id


class InvalidDecision(ModerationError, ValueError):
    """A decision whose fields do not fit its action (e.g. a mute without a duration)."""


class SettingsError(ModerationError, ValueError):
    """A plugin's settings table is unusable; ``key`` is the key inside that table."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class PluginError(ModerationError):
    """A backend or classifier could not be found, loaded or built."""


class ChainBroken(ModerationError):
    """The audit chain does not verify; ``seq`` is the first entry that fails."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"audit chain broken at entry {seq}")
        self.seq = seq
