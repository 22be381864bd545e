"""A content-addressed store shared by runs: work is done once, keyed by what it depends on.

One module per concern, each depending only on those before it:

* :mod:`~deepstory.cache.records`: the size and SHA-256 recorded beside each entry, the check of a hit, the
  damaged entries set aside;
* :mod:`~deepstory.cache.leases`: the lease of a running render, naming every entry it uses, and how
  prune reads them;
* :mod:`~deepstory.cache.store`: the entries on disk and :class:`Cache`, which makes, finds and places
  them, with the read-only cache and its local layer;
* :mod:`~deepstory.cache.prune`: removing what no run dir and no running render uses;
* :mod:`~deepstory.cache.cli`: ``python -m deepstory.cache info|check|prune`` (imported by nothing else).

The names the rest of the code uses are importable from here.
"""

from deepstory.cache.leases import JOURNAL
from deepstory.cache.records import DEFAULT_VERIFY, VERIFY_MODES, damage, file_digest, record_path
from deepstory.cache.store import Cache, Output, digest, entries

__all__ = [
    "DEFAULT_VERIFY",
    "JOURNAL",
    "VERIFY_MODES",
    "Cache",
    "Output",
    "damage",
    "digest",
    "entries",
    "file_digest",
    "record_path",
]
