"""The AWS Lambda adapter of leadgen: the Powertools handler over the core (leadgen/)."""
