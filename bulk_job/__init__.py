"""The bulk scoring job CodeBuild runs when a lead file lands under score-requests/:
`python -m bulk_job`.

A thin adapter over leadgen.serve.bulk (the same `score_file` as `leadgen score-file`): the S3
object comes from the environment the EventBridge rule's target input sets on the build, the
scored file goes to scored/<name>.parquet beside it, and every step is one JSON line. It lives
apart from build_job because the build runtime never imports the serving one (tests/unit/
test_layout.py); it reuses build_job's JSON log format.
"""
