"""The one exception for every failed cryptographic check."""


class VerificationFailed(Exception):
    """A signature, tag, wrap, commitment or challenge did not verify.

    Deliberately opaque, like Fernet's ``InvalidToken``: the message never says which check
    failed, so that a caller cannot be turned into an oracle (e.g. padding vs. tag failures).
    """

    def __init__(self) -> None:
        super().__init__("verification failed")
