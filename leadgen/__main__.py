"""Entry point of `python -m leadgen` and of the `leadgen` command."""

import sys

from leadgen.config import THREAD_WAIT_DEFAULTS, default_library_settings


def main() -> int:
    """The thread-wait defaults before anything imports numpy or faiss: faiss (OpenMP) and ONNX
    Runtime take turns on the same cores in `build` and `score-file`, and a faiss pool still
    spinning after its search steals the cores the embedder needs (bench/BULK.md measured it).
    Here, not in leadgen.cli.main, so that only a CLI process gets them, not a test or a Lambda
    that calls the CLI's functions in-process."""
    default_library_settings(THREAD_WAIT_DEFAULTS)
    from leadgen.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
