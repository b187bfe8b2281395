#!/usr/bin/env python3
"""CDK app entry point (`cdk synth`, `cdk deploy`): `-c env=dev|prod`, see stacks/config.py.

Thin: builds the stack from context, synthesises, and fails on any unacknowledged cdk-nag
finding (errors fail the synth already; warnings are made fatal here).
"""

import sys

from aws_cdk import App

from stacks.leadgen_stack import build_app
from stacks.nag import NagFindingsError, assert_nag_clean


def main() -> int:
    app = App()
    build_app(app)
    assembly = app.synth()
    try:
        assert_nag_clean(assembly.directory)
    except NagFindingsError as exc:
        print(f"cdk-nag: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
