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


def guarded(parse, item, *, source, origin, record_id, raw, key="source_id", valid=bool):
    """parse(item) -> the record with its raw bytes, or a ParseError naming source, origin and
    record: any fault in one record is that record's fault, never the batch's."""
    try:
        record = parse(item)
        if not valid(record[key]):
            raise ValueError(f"no valid {key} (got {record[key]!r})")
    except Exception as error:  # noqa: BLE001
        return ParseError(f"cannot parse record: {error!r}", source=source, origin=origin,
                          record_id=record_id, raw=raw)
    record["raw"] = raw
    return record
