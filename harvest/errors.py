"""Errors every harvester raises, so callers can tell a bad source from a bad record."""

import functools
import json
import re


class HarvestError(Exception):
    """A request to a source failed for good (after retries) or answered with an error;
    `status` is the last HTTP status, None when no answer came."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


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

    def __reduce__(self):
        # Pickled whole (bulk loads parse in worker processes): the fields are keyword-only.
        return rebuild_parse_error, (self.args[0], self.source, self.origin, self.record_id, self.raw, self.fatal)

    def __str__(self):
        where = f"{self.source} {self.origin}"
        if self.record_id:
            where += f" record {self.record_id}"
        return f"{where}: {self.args[0]}"


def rebuild_parse_error(message, source, origin, record_id, raw, fatal):
    return ParseError(message, source=source, origin=origin, record_id=record_id, raw=raw, fatal=fatal)


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


def error_message(data):
    """The error a response body carries, as one line: a JSON error or message (E-utilities'
    esearchresult ERROR included), an HTML page's title, else the body's start."""
    text = data.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
        payload = None
    if isinstance(payload, dict):
        message = payload.get("error") or payload.get("message") or payload.get("esearchresult", {}).get("ERROR")
        if message:
            return str(message)
    if "<html" in text[:500].lower():
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        return "an HTML page" + (f" ({title.group(1).strip()})" if title else "")
    text = " ".join(text.split())
    return (text[:200] or "an empty body") + ("..." if len(text) > 200 else "")


def payload_guarded(source):
    """Decorate a parse_payload(data, origin) -> (items, meta): a payload that is malformed as
    a whole (cut short, not the JSON, XML or CSV it looks like, nested past Python's limits)
    gives one fatal ParseError naming the source and origin instead of the parser's own
    exception. Faults in single records are already each record's ParseError."""
    def decorate(parse_payload):
        @functools.wraps(parse_payload)
        def guarded_payload(data, origin):
            try:
                return parse_payload(data, origin)
            except ParseError:
                raise
            except Exception as error:  # noqa: BLE001
                return [ParseError(f"malformed or truncated payload: {error!r}"[:500], source=source, origin=origin,
                                   raw=data[:65536], fatal=True)], {}
        return guarded_payload
    return decorate
