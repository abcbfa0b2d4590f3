"""Why the annotation app refuses a request: each message is shown to the rater or staff as is."""

from .models import Session


class AnnotationError(Exception):
    """A request the study cannot serve."""


class StudyClosed(AnnotationError):
    pass


class StudyFull(AnnotationError):
    pass


class AlreadyParticipated(AnnotationError):
    def __init__(self, message: str, session: Session | None = None):
        super().__init__(message)
        self.session = session


class NotInSession(AnnotationError):
    pass


class InvalidAnswer(AnnotationError):
    pass


class SessionClosed(AnnotationError):
    pass


class PlayRefused(AnnotationError):
    pass
