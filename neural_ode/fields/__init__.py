"""Vector fields and the layers around them that workloads and training models share."""
