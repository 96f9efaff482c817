"""User-facing errors: one line that says what is wrong and how to fix it."""


class UserError(Exception):
    """A mistake in flags, URLs, files or input that the user can fix.

    The CLI prints the message on one line and exits with code 2; it never
    shows a traceback for these.
    """


class FlowFailed(Exception):
    """Something failed inside the running flow that is not a user's mistake.

    The CLI prints the message on one line (the traceback is logged at DEBUG)
    and exits with code 1.
    """
