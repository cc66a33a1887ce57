"""The report's figures: shared drawing (``base``, ``style``), one module per family (``depth``,
``nfe``, ``precision``, ``outputs``) and ``draw`` that draws them all."""
