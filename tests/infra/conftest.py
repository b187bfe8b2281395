"""Infra fixtures: the synthesised app (`synth`) lives in tests/synthesis.py, shared with the
functional tests; its helpers are re-exported here for the infra modules that import them."""

from tests.synthesis import PROD_JWT_CONTEXT, REPO_ROOT, Synth, cdk_json_context

__all__ = ["PROD_JWT_CONTEXT", "REPO_ROOT", "Synth", "cdk_json_context"]
