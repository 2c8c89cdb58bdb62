"""The one place a mailbox password lives during an authenticated scan.

It comes from an environment variable or a hidden prompt (never a command-line
argument), stays in memory in this small object, and leaves it only as a Basic
Authorization header value built at the moment of sending. Its repr, str and
pickling never show it, so a log line, a traceback with locals or a report that
serialised it by mistake would not reveal it. It is not a dataclass, so
`model.to_jsonable` would not walk into it either.
"""

from __future__ import annotations

import base64
from typing import NoReturn

PASSWORD_ENV = "CASAUDIT_PASSWORD"


class Credentials:
    __slots__ = ("email", "_password")

    def __init__(self, email: str, password: str) -> None:
        if not password:
            raise ValueError("empty password")
        self.email = email
        self._password = password

    def basic_authorization(self) -> str:
        """The Authorization header value (RFC 7617): send only over verified HTTPS."""
        token = base64.b64encode(f"{self.email}:{self._password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"Credentials(email={self.email!r}, password=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("credentials are never serialised")

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__
