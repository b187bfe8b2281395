"""`python -m build_job`: the CodeBuild entry point (see build_job.job for what it does)."""

from build_job.job import main

raise SystemExit(main())
