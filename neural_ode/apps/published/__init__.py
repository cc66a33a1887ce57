"""Our measurements beside published ones: the claims (:mod:`.table`) and the counts measured for them
(:mod:`.joint`)."""
