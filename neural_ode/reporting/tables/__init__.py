"""The report's tables: every cell (``cells``), what to run (``choices``, ``decisions``,
``recommend``, ``matching``), which library (``libraries``) and history across commits (``history``)."""
