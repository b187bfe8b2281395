"""leadgen: lead scoring with text + tabular embeddings and FAISS.

The package is the one core that the CLI, the local server, the Lambda handler and the build job all
call. Importing it performs no AWS call and loads no heavy library: modules import what they need.
"""

__version__ = "0.1.0"
