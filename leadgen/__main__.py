"""Entry point of `python -m leadgen`."""

import os
import sys

# Idle OpenMP/BLAS workers sleep instead of spinning, as in the build job (build_job.job): faiss
# (OpenMP) and ONNX Runtime take turns on the same cores in `build` and `score-file`, and a faiss
# pool still spinning after its search steals the cores the embedder needs (bench/BULK.md measured
# it). Read when the libraries load, so set before the first import; the environment still wins.
for _name, _value in (("OMP_WAIT_POLICY", "PASSIVE"), ("OPENBLAS_THREAD_TIMEOUT", "4")):
    os.environ.setdefault(_name, _value)

from leadgen.cli import main  # noqa: E402

sys.exit(main())
