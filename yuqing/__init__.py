"""Yuqing Radar: real-time public-opinion monitoring and crisis response."""

import os

# numpy's bundled OpenBLAS starts a thread per core at import, and each spins ~0.1 s of CPU
# before it sleeps: a cost every process paid (each of a cluster's too) for nothing, since the
# flow never calls BLAS and scales by processes. Set the variable yourself to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
