"""The jobs' figures as CloudWatch metrics, put with the PutMetricData API.

CodeBuild does not extract embedded-metric-format lines from its logs (only Lambda does), so the
jobs put the values themselves: namespace METRICS_NAMESPACE, dimension service=SERVICE_NAME, the
names in leadgen.names.Metric, where the stack's alarms (stacks/monitoring.py) read them: the
build's drift and its backtest of logged leads, the bulk job's score-log failures. Each project's
role may put metrics in that namespace only (stacks/index_refresh.py, stacks/bulk_scoring.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME


def put_drift_metrics(drift: dict[str, Any], client: Any = None) -> dict[str, float]:
    """Put this build's drift figures (nothing for a first version); returns what was put."""
    from leadgen.builder.drift import metric_values

    return put_metrics(metric_values(drift), client)


def put_outcome_metrics(outcomes: Mapping[str, Any], client: Any = None) -> dict[str, float]:
    """Put the backtest's figures (leadgen.builder.backtest.metric_values); returns them."""
    from leadgen.builder.backtest import metric_values

    return put_metrics(metric_values(outcomes), client)


def put_metrics(values: Mapping[str, float], client: Any = None) -> dict[str, float]:
    """Put `values` (metric name -> value) in one call; nothing to put is no call."""
    values = dict(values)
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
