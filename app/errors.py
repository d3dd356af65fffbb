"""The one exception a dataset reader or writer raises for bad input."""
from __future__ import annotations


class DatasetError(ValueError):
    """A dataset (or the input to make one) is not acceptable.

    ``entry`` names the ZIP entry at fault (``None`` for the archive as a whole),
    ``rule`` is a short stable identifier of the rule that was broken, so the
    page and the tests can react to the kind of problem without parsing text.
    The message itself is written for a user.
    """

    def __init__(self, message: str, *, rule: str, entry: str | None = None):
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.entry = entry

    def to_dict(self) -> dict:
        return {"message": self.message, "rule": self.rule, "entry": self.entry}


class ConstantDataWarning(UserWarning):
    """The source array has one value everywhere: it was stored as zeros."""
