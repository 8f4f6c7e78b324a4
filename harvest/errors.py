"""Errors every harvester raises, so callers can tell a bad source from a bad record."""


class HarvestError(Exception):
    """A request to a source failed for good (after retries) or answered with an error."""


class ParseError(Exception):
    """A payload or record could not be parsed; the message names source, origin and record."""

    def __init__(self, message, *, source, origin, record_id=None, raw=b"", fatal=False):
        super().__init__(message)
        self.source = source
        self.origin = origin
        self.record_id = record_id
        self.raw = raw
        # fatal: the payload itself is broken (cut short, not XML); nothing after it can be read.
        self.fatal = fatal

    def __str__(self):
        where = f"{self.source} {self.origin}"
        if self.record_id:
            where += f" record {self.record_id}"
        return f"{where}: {self.args[0]}"
