"""`python -m bulk_job`: the CodeBuild entry point of bulk scoring (see bulk_job.job)."""

from bulk_job.job import main

raise SystemExit(main())
