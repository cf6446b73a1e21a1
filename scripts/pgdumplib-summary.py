#!/usr/bin/env python3
"""Reads a seekable custom-format archive with PyPI pgdumplib (an implementation nobody at
pgops wrote) and prints what pg-archive must agree with, as one JSON document:
  {"version": [1, 16, 0], "dbname": …, "entries": [[dump_id, desc, namespace, tag, owner]…],
   "tables": [[namespace, tag, rows]…], "blobs": n}
Rows are the lines of each TABLE DATA block as pgdumplib decompresses it, up to COPY's
end marker. pgdumplib's own row iterator is not used: it stops at the first empty line,
and an empty line is a valid row (a one-column table holding '').
Usage: pgdumplib-summary.py ARCHIVE
"""
import json
import sys

import pgdumplib
from pgdumplib import constants


def data_rows(dump, entry):
    try:
        with dump._tempfile(entry.dump_id, "rb") as handle:
            rows = 0
            for line in handle:
                if line in (b"\\.\n", b"\\."):
                    break
                rows += 1
            return rows
    except Exception:  # no data block cached: an empty table
        return 0


def main(path):
    dump = pgdumplib.load(path)
    entries = [[e.dump_id, e.desc, e.namespace or "", e.tag or "", e.owner or ""]
               for e in dump.entries]
    tables = [[e.namespace or "", e.tag or "", data_rows(dump, e)]
              for e in dump.entries
              if e.desc == "TABLE DATA" and e.data_state != constants.K_OFFSET_NO_DATA]
    blobs = sum(1 for _ in dump.blobs())
    json.dump({"version": list(dump.version), "dbname": dump.dbname,
               "entries": entries, "tables": tables, "blobs": blobs}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
