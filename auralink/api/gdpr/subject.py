"""Who a GDPR request is about: a participant identity, a phone number or a member, in one org."""

from __future__ import annotations

__all__ = ["Subject", "normalise_phone"]

import re
from dataclasses import dataclass
from typing import Literal

from auralink.api.errors import InvalidField

_SEPARATORS = re.compile(r"[\s().-]")
_PHONE = re.compile(r"\+?[0-9]{5,15}")
SubjectKindName = Literal["identity", "phone", "member"]


def normalise_phone(value: str) -> str:
    """``+1 (555) 123-4567`` -> ``+15551234567``; :class:`InvalidField` if it is no phone number."""
    number = _SEPARATORS.sub("", value)
    if not _PHONE.fullmatch(number):
        raise InvalidField("subject.value", "a phone number has 5 to 15 digits, optionally after a +")
    return number


@dataclass(frozen=True, slots=True)
class Subject:
    """``org_id`` scopes every lookup: an export or erase never reaches another organisation."""

    org_id: str
    kind: SubjectKindName
    value: str

    def identities(self) -> frozenset[str]:
        """The participant identities and display names that mean this subject.

        A phone number is matched as itself, without its ``+``, and in the ``sip_<number>``
        form livekit-sip gives SIP callers.
        """
        if self.kind == "identity":
            return frozenset({self.value})
        if self.kind == "phone":
            bare = self.value.removeprefix("+")
            forms = {bare, f"+{bare}"}
            return frozenset(forms | {f"sip_{f}" for f in forms})
        return frozenset()
