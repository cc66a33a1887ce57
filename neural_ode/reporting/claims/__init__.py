"""The paper's claims judged by measurement: growth fits (``growth``), the depth and NFE claims
(``paper``), the output-times claim (``outputs``) and the verdict vocabulary (``verdicts``)."""
