"""The one exception type for a user's mistake: the CLI prints it as one line, no traceback."""


class SoundmatchError(Exception):
    """A problem the user can fix (bad file, bad option, missing plugin).

    The message names the file or field, what was found and what was expected.
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none): what a
    one-line error quotes from a library's multi-line complaint."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
