"""Password policy (ASVS V6.2): 12–128 characters, no composition rules, not guessable.

Guessability is judged by zxcvbn, a maintained strength estimator with its own lists of
common passwords, names and keyboard patterns; the user's own email counts against them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn 0–4: 3 is "safely unguessable" against online and throttled attacks
# zxcvbn refuses longer input (its matching grows fast with length): a longer password is
# judged by its first 72 characters, which must be unguessable on their own.
ESTIMATED_LENGTH = 72


def _words(user_inputs: Sequence[str]) -> list[str]:
    """The inputs and their parts (`jane.doe@example.com` → jane, doe, example, …)."""
    words = {value.lower() for value in user_inputs if value}
    for value in list(words):
        words.update(part for part in re.split(r"[^a-z0-9]+", value) if len(part) >= 3)
    return sorted(words)


def password_problem(password: str, *, user_inputs: Sequence[str] = ()) -> str | None:
    """Why the password is refused, or None when it is acceptable.

    CPU-bound (tens of ms): callers on an event loop run it in a thread.
    """
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    result = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=_words(user_inputs))
    if int(result["score"]) < MIN_SCORE:
        return "is too common or too easy to guess"
    return None
