"""The one unit convention of every report and console table.

Memory is printed in MB (10^6 bytes), times in seconds (or milliseconds where a column says
``ms``); a value that was not measured prints as :data:`MISSING`. The metric schema
(:mod:`neural_ode.results.schema`) gives each metric's display unit from these.
"""

#: bytes per megabyte, as every report prints memory
MB = 1e6
#: how a value that was not measured is shown
MISSING = "—"
