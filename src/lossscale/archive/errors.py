"""The archive's one error."""


class ArchiveError(Exception):
    """Bad input to create or verify (missing files, corrupt archive or manifest)."""
