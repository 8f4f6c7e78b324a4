"""Splitting a wrong merge: a curator's decision that the KB remembers."""

from .load import WorkLoader, now


class UnmergeError(Exception):
    pass


def unmerge(db, work_id, source, source_id):
    """Move one source record out of a work into a work of its own; returns the new work id.

    Both works are rebuilt from the records they keep, the links the record asserted move
    with it, and a merge block makes sure no later load puts the two back together.
    """
    with db.atomic():
        if db.execute("SELECT 1 FROM records WHERE source = ? AND source_id = ? AND work_id = ?",
                      [source, source_id, work_id]).fetchone() is None:
            raise UnmergeError(f"work {work_id} holds no {source} record {source_id}")
        others = db.execute("SELECT source, source_id FROM records WHERE work_id = ? "
                            "AND NOT (source = ? AND source_id = ?)", [work_id, source, source_id]).fetchall()
        if not others:
            raise UnmergeError(f"{source} {source_id} is the only record of work {work_id}: nothing to split")
        new_id = db.execute("SELECT max(id) FROM works").fetchone()[0] + 1
        db.execute("UPDATE records SET work_id = ? WHERE source = ? AND source_id = ?", [new_id, source, source_id])
        db.execute("UPDATE links SET from_work_id = ? WHERE asserted_by = ? AND from_id = ? AND from_work_id = ?",
                   [new_id, source, source_id, work_id])
        db.execute("DELETE FROM merges WHERE source = ? AND source_id = ?", [source, source_id])
        db["merge_blocks"].insert_all(
            [{"source": a, "source_id": b, "other_source": c, "other_source_id": d, "created_at": now()}
             for (a, b), (c, d) in [((source, source_id), other) for other in others]
             + [(other, (source, source_id)) for other in others]], replace=True)
        WorkLoader(db, source).rebuild([work_id, new_id])
    return new_id
