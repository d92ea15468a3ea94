"""The project's error types. Each carries a one-line message naming the file, field or request."""


class DafsetError(Exception):
    """Base class: a user-facing error whose message is one clear line."""


class ConfigError(DafsetError):
    """A malformed input file: relations.yaml, a template, a setting."""


class BadIdError(DafsetError):
    """A Wikidata id that is not of the expected form (never reaches a query)."""


class SourceError(DafsetError):
    """A request to a data source failed for good (after the retries the policy allows)."""


class SchemaError(DafsetError):
    """A table does not match its declared Arrow schema at a boundary."""


class PublishError(DafsetError):
    """A snapshot could not be written; the previous one is untouched."""


def path_error(exc: OSError) -> DafsetError:
    """An OS error on a path the user gave (a file where a folder belongs, a symlink loop, no
    permission, a full disk) as one line naming the path."""
    import errno
    from pathlib import Path

    where = exc.filename if exc.filename is not None else "?"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EEXIST and Path(str(where)).is_symlink():
        reason = "a symlink that leads nowhere (a loop, or a missing target)"
    return DafsetError(f"{where}: {reason}")
