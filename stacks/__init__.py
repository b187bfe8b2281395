"""CDK infrastructure of leadgen: one Stack composed of constructs (see leadgen_stack.py)."""
