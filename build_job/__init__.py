"""The index-refresh job that CodeBuild runs on a schedule: `python -m build_job`.

A thin adapter over the build pipeline: it reads the settings the CDK stack sets in its environment,
publishes one verified artifact version, syncs the DynamoDB duplicate table, and logs every step as
one JSON line so CloudWatch Logs Insights and metric filters can read the build without parsing
prose. All the logic (reading the export, embedding, the indices, the publish protocol) lives once,
in leadgen/, shared with the Lambda, so a lead and a customer are embedded by the same code.
"""
