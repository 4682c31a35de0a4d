"""Password hashing (argon2id) and the password policy.

Hashing uses argon2id with OWASP's minimum parameters (19 MiB, 2 iterations, parallelism 1). It
takes tens of milliseconds of CPU, so it runs in a worker thread and never blocks the event loop.

The policy follows NIST SP 800-63B rather than composition rules: at least 10 characters, at most
128, not a commonly used password (also after stripping trailing digits and symbols and undoing
l33t substitutions, so ``Password2024!`` is refused), not a keyboard or alphabet run, not built
from the account's own e-mail, name or company, and not a handful of characters repeated.
"""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.errors import ValidationProblem

MIN_LENGTH = 10
MAX_LENGTH = 128

_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)  # argon2id by default
# Verified against when the account does not exist, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash("huike-dummy-password-for-timing")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one argon2 verification."""
    target = password_hash or _DUMMY_HASH
    try:
        ok = await asyncio.to_thread(_hasher.verify, target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


# Frequently used passwords and the bases they are built from (lower-case, after normalisation).
_COMMON = frozenset(
    """
    password passw0rd passwort motdepasse contrasena qwerty qwertyuiop qwertyui qwerasdf asdfgh asdfghjkl
    zxcvbn zxcvbnm azerty letmein welcome welcome1 admin administrator root toor changeme default guest
    secret master monkey dragon shadow sunshine princess football baseball basketball soccer hockey
    superman batman starwars trustno1 iloveyou iloveu loveyou lovely michael jennifer jordan hunter
    killer charlie thomas robert daniel andrew joshua matthew jessica ashley amanda nicole michelle
    freedom whatever computer internet samsung google apple microsoft huike huikecrm crm system
    woaini woaini1314 iloveyou1314 nihao nihaoma zhangwei wangwei liwei aini caonima qazwsx qazwsxedc
    1qaz2wsx 1qaz2wsx3edc 1q2w3e4r 1q2w3e4r5t 1q2w3e 2wsx3edc zaq12wsx abc abcd abcde abcdef abcdefg
    abcdefgh test tester testing user username login access pass mypass mypassword company office
    summer winter spring autumn monday friday january baby angel cookie cheese pepper ginger maggie
    buster tigger ranger harley yankees chelsea liverpool arsenal dallas austin thunder taylor matrix
    flower mustang corvette ferrari porsche mercedes qweasd qweasdzxc asdasd asdqwe zxczxc
    """.split()
)
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "qwertyuiop", "asdfghjkl", "zxcvbnm",
    "01234567890", "1qaz2wsx3edc4rfv5tgb", "qazwsxedcrfvtgbyhnujmikolp",
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_TRAILING_NOISE = re.compile(r"[\W\d_]+$")
_LEADING_NOISE = re.compile(r"^[\W\d_]+")


def _core(password: str) -> str:
    """'P@ssw0rd2024!' -> 'password': what is left when the usual decorations are removed."""
    lowered = password.lower()
    stripped = _LEADING_NOISE.sub("", _TRAILING_NOISE.sub("", lowered))
    return stripped.translate(_LEET)


def _is_run(text: str) -> bool:
    return len(text) >= 3 and any(text in seq or text in seq[::-1] for seq in _SEQUENCES)


def password_problem(password: str, *, context: tuple[str, ...] = ()) -> str | None:
    """Why this password is too weak, or None. ``context``: e-mail, names, company of the account."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    lowered = password.lower()
    if len(set(lowered)) < 5:
        return "uses too few different characters"
    core = _core(password)
    plain_core = _TRAILING_NOISE.sub("", _LEADING_NOISE.sub("", lowered))
    if lowered in _COMMON or core in _COMMON or plain_core in _COMMON:
        return "is too common; choose a less predictable password (a few unrelated words work well)"
    if len(core) < 4 or _is_run(lowered) or _is_run(core) or _is_run(plain_core):
        return "is too predictable (a run of keys, letters or digits)"
    for word in context:
        word = word.strip().lower()
        if not word:
            continue
        local = word.split("@", 1)[0]
        if lowered == word or core == _core(word) or (len(local) >= 4 and local in lowered):
            return "must not be based on your e-mail address, name or company"
    return None


def check_password(password: str, *, field: str, context: tuple[str, ...] = ()) -> None:
    """Raise a 422 naming ``field`` if the password is too weak."""
    problem = password_problem(password, context=context)
    if problem is not None:
        raise ValidationProblem.one(field, problem, "weak_password")
