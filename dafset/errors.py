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
