"""The build's drift as CloudWatch metrics, put with the PutMetricData API.

CodeBuild does not extract embedded-metric-format lines from its logs (only Lambda does), so the
job puts the values itself: namespace METRICS_NAMESPACE, dimension service=SERVICE_NAME, the
names in leadgen.names.Metric, where the stack's drift alarm (stacks/monitoring.py) reads them.
The build project's role may put metrics in that namespace only (stacks/index_refresh.py).
"""

from __future__ import annotations

from typing import Any

from leadgen.builder.drift import metric_values
from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME


def put_drift_metrics(drift: dict[str, Any], client: Any = None) -> dict[str, float]:
    """Put this build's drift figures (nothing for a first version); returns what was put."""
    values = metric_values(drift)
    if not values:
        return {}
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    dimensions = [{"Name": "service", "Value": SERVICE_NAME}]
    client.put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "None"}
            for name, value in values.items()
        ],
    )
    return values
