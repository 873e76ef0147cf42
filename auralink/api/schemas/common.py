"""Field types shared by the management API's bodies: names, e-mail addresses, passwords.

Strings refuse control characters (PostgreSQL cannot store NUL, and nobody means a newline
in a name), so odd input is a 422 that names the field, never a database error.
"""

from __future__ import annotations

__all__ = ["Email", "Name", "Password", "StrictBody"]

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def _lower(value: str) -> str:
    return value.lower()


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROL)
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$",
    ),
    AfterValidator(_lower),
]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256, pattern=_NO_CONTROL)]


class StrictBody(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")
