"""The tool's files as untrusted input and as owned output.

* :mod:`.trust`: which user factories (``package.module:function``) may be imported: only those
  the user named with ``--workload`` (command line or their own ``--config``), never one read
  from a results or sweep file.
* :mod:`.records`: the one reader of ``results.jsonl`` records, with a typed check of every field.
* :mod:`.writer`: the one writer of the tool's files (atomic, owned, inside its folder).
"""
