"""One module per `relc` command (as pre-commit's `commands/`): each has `run(arguments,
reporter) -> exit status`, and calls library functions that return values.

`cli.py` only parses arguments and dispatches here; the helpers that several commands
share live in `common.py`.
"""
