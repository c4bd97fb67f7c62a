"""The one exception type for a user's mistake: the CLI prints it as one line, no traceback."""


class SoundmatchError(Exception):
    """A problem the user can fix (bad file, bad option, missing plugin).

    The message names the file or field, what was found and what was expected.
    """


# Only a hostile file makes a library's first line longer than this; a real one is quoted whole.
MAX_LINE = 1000


def first_line(exc: BaseException) -> str:
    """The whole first line of an exception's message (its type's name if it has none): what a
    one-line error quotes from a library's multi-line complaint."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…"
