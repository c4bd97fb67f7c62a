"""The one exception type for a user's mistake: the CLI prints it as one line, no traceback."""


class SoundmatchError(Exception):
    """A problem the user can fix (bad file, bad option, missing plugin).

    The message names the file or field, what was found and what was expected.
    """
