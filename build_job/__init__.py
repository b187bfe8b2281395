"""The index-refresh job that CodeBuild runs on a schedule: `python -m build_job`.

A thin adapter over `leadgen.build`: it reads its settings from the environment the CDK stack sets,
publishes one verified artifact version, syncs the DynamoDB duplicate table, and logs every step as
one JSON line so CloudWatch Logs Insights and metric filters can read the build without parsing
prose. All the logic (reading the export, embedding, the indices, the publish protocol) lives once,
in leadgen/, shared with the Lambda, so a lead and a customer are embedded by the same code.
"""
