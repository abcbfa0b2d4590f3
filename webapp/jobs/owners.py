"""Who a job belongs to, apart from the services so that read-side queries need not import them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """Who a job belongs to: a signed-in user, or an anonymous visitor's session."""

    user: object | None = None
    session_key: str = ""

    @property
    def is_staff(self) -> bool:
        return bool(self.user is not None and self.user.is_staff)
