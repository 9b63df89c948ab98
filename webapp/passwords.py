"""A password validator for passwords made of one part said twice ("derm3derm3x", "abcabcabcabc").

Django's validators measure length, closeness to the username, a list of 20,000 common passwords, and all
digits. None of them sees that "derm3derm3x" is "derm3" twice plus one letter: a guesser that tries doubled
words finds it as fast as "derm3x". This one counts what a password adds that is new — each character that
does not continue a repeat of an earlier part of at least three characters counts once, and a whole repeat
counts once — and asks for at least ``min_distinct`` of those. ``correct horse battery`` counts 21,
``derm3derm3x`` counts 7, ``aaaaaaaaaaaa`` counts 2.

Why not zxcvbn: it would catch this too, but its Python port has not had a release in years and adds a
megabyte of word lists for one rule Django's own validators leave out.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext

MIN_REPEAT = 3  # shorter echoes ("ll" in "hello", "or" in "correct horse") are ordinary words, not a pattern
# The parse is quadratic; a password form has no length limit, so only this much of a password is parsed (far
# more than ``min_distinct`` needs) and a megabyte-long "password" costs no more than a normal one.
MAX_PARSED = 256


def distinct_length(password: str) -> int:
    """How many parts a password is made of when each repeat of an earlier stretch counts as one part.

    A greedy left-to-right parse (as LZ77 compression does): at each position take the longest stretch of at
    least ``MIN_REPEAT`` characters that already started earlier (it may overlap the current position, so a run
    "aaaa" is one repeat of "a"); otherwise take one new character. Case is ignored: "Derm3derm3" repeats too.
    """
    text = password.casefold()[:MAX_PARSED]
    count, i = 0, 0
    while i < len(text):
        best = 0
        for start in range(i):
            length = 0
            while i + length < len(text) and text[start + length] == text[i + length]:
                length += 1
            best = max(best, length)
        i += best if best >= MIN_REPEAT else 1
        count += 1
    return count


class RepetitionValidator:
    """Refuses a password with fewer than ``min_distinct`` parts once repeats are counted once."""

    def __init__(self, min_distinct: int = 10) -> None:
        self.min_distinct = min_distinct

    def validate(self, password: str, user: Any = None) -> None:
        if distinct_length(password) < self.min_distinct:
            raise ValidationError(
                ngettext(
                    "This password repeats itself: once repeated parts are counted once it has fewer than "
                    "%(min)d character. Use several unrelated words instead of one part said twice.",
                    "This password repeats itself: once repeated parts are counted once it has fewer than "
                    "%(min)d characters. Use several unrelated words instead of one part said twice.",
                    self.min_distinct,
                ),
                code="password_repetitive",
                params={"min": self.min_distinct},
            )

    def get_help_text(self) -> str:
        return (f"Your password must not be made of repeated parts: counting each repeat once, it needs at least "
                f"{self.min_distinct} characters.")
