"""Teaching front-ends: traced runs, ``iosim explain``, ``iosim quiz``, the flow diagram."""
