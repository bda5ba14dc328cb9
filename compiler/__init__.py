"""release-compiler (`relc`): a declarative GitOps compiler for LLM model releases."""

__version__ = "0.1.0"
