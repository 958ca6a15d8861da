"""The composition root: settings, CLI, the PTB application and the HTTP server.

One BLAS thread, unless the operator says otherwise: set before numpy is first imported.
The tip line runs many small matrix products (one tip's encoding and search at a time);
OpenBLAS's extra threads spin-wait between them: on two cores a tip cost 56 ms of CPU with
them and 34 ms without (docs/BENCHMARKS.md).
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
