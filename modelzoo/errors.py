"""Errors that a user can fix; their message is shown as is in the API, the pages and the CLI."""


class UserError(Exception):
    """Bad input or a request that cannot be served; the message names the problem."""


class InvalidMediaError(UserError):
    """An upload is not usable media (not media, truncated, wrong streams, over the limits)."""


class InvalidParamsError(UserError):
    """Job parameters do not match their schema."""
