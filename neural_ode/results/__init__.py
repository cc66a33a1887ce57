"""Results: the metric schema, the record of one cell, the results frame, readers of every results format."""
