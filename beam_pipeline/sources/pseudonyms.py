"""Caller ids become pseudonyms before any row is built; the secret that keys them never travels with the job.

Why a keyed hash: a sidecar's caller_id is usually the caller's phone number or a
CRM customer number. The warehouse only needs to know that two calls came from the
same caller (repeat contacts), never who it was. A plain SHA-256 of a phone number
is no protection: there are few enough numbers (~10^10 per country plan) to hash
them all and look the answer up. HMAC-SHA256 keyed with a secret salt cannot be
reversed that way without the salt, and a new salt unlinks every old pseudonym.

Why the salt is named, not given: the job's options are recorded in
``runs.options_json`` and shown in the Dataflow UI, and command lines land in shell
history. So the options carry only *where* the salt is, and each worker process
reads it itself:

* ``env:NAME`` (default ``env:CALLMOOD_CALLER_ID_SALT``): an environment variable
  of the process that runs the pipeline (the in-process runner, a container);
* ``secret:projects/P/secrets/S/versions/V``: a Secret Manager secret version,
  for Dataflow workers, which do not inherit the launcher's environment.

Without a salt a caller_id is dropped (``caller_id_hash`` stays NULL), never stored
in clear or under a guessable hash. The salt itself is never logged or pickled.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re

LOG = logging.getLogger(__name__)

SALT_ENV = "CALLMOOD_CALLER_ID_SALT"
DEFAULT_SALT_SOURCE = f"env:{SALT_ENV}"
MIN_SALT_CHARS = 16            # a short salt is guessable, which makes the pseudonyms reversible
HASH_HEX_CHARS = 32            # 128 bits: no collisions among any realistic number of callers
_SECRET_VERSION = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Formatting that varies between systems for the same number: "+44 20 7946 0958" == "+442079460958".
_ID_PUNCTUATION = re.compile(r"[\s().\-]")


def check_salt_source(source: str) -> str:
    """The source unchanged if it is ``env:NAME`` or ``secret:projects/.../versions/...``; else ValueError."""
    kind, _, where = source.partition(":")
    if (kind == "env" and _ENV_NAME.match(where)) or (kind == "secret" and _SECRET_VERSION.match(where)):
        return source
    raise ValueError(f"caller-id salt source {source!r} must be env:VARIABLE or "
                     "secret:projects/PROJECT/secrets/NAME/versions/VERSION")


def normalise_caller_id(caller_id: str) -> str:
    """One spelling per caller, so the same number formatted two ways gets one pseudonym."""
    return _ID_PUNCTUATION.sub("", caller_id.strip()).lower()


def _read_secret(version_name: str) -> str:
    from google.cloud import secretmanager

    response = secretmanager.SecretManagerServiceClient().access_secret_version(name=version_name)
    return response.payload.data.decode("utf-8")


class CallerIdHasher:
    """``hasher(caller_id)`` -> 32 hex digits of HMAC-SHA256(salt, normalised id), or None without a salt.

    Picklable for Beam: the salt is read on first use in each process and left
    out of the pickle, so it is not in the job graph that runners store.
    """

    def __init__(self, salt_source: str = DEFAULT_SALT_SOURCE):
        self.salt_source = check_salt_source(salt_source)
        self._key: bytes | None = None
        self._loaded = False

    def __getstate__(self) -> dict:
        return {"salt_source": self.salt_source, "_key": None, "_loaded": False}

    def __repr__(self) -> str:      # never the salt
        return f"CallerIdHasher({self.salt_source!r})"

    def _load(self) -> bytes | None:
        kind, _, where = self.salt_source.partition(":")
        salt = os.environ.get(where) if kind == "env" else _read_secret(where)
        if not salt:
            LOG.warning("no caller-id salt in %s: caller ids in sidecars are dropped, not stored", self.salt_source)
            return None
        if len(salt) < MIN_SALT_CHARS:
            raise ValueError(f"the caller-id salt in {self.salt_source} is shorter than {MIN_SALT_CHARS} "
                             "characters: too easy to guess (generate one with `openssl rand -hex 32`)")
        return salt.encode("utf-8")

    @property
    def enabled(self) -> bool:
        """True when a salt is configured: reads it now, so a launcher can fail fast on a bad one."""
        if not self._loaded:
            self._key = self._load()
            self._loaded = True
        return self._key is not None

    def __call__(self, caller_id: str) -> str | None:
        normalised = normalise_caller_id(caller_id)
        if not normalised or not self.enabled:
            return None
        return hmac.new(self._key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


# -- phone numbers in names and free-text fields -----------------------------------------------
#
# Why: PBXs name files after the number (`out-+4420794609 58-4471-20261123-101500.wav`), folders
# are named after lines, and sidecars carry numbers in any field. A run of 7 or more digits (with
# the separators numbers are written with) is treated as a phone number and replaced before any
# row is built. Dates and times are not: the call date is read from the path.

PHONE_MIN_DIGITS = 7
TOKEN_CHARS = 12               # 48 bits: unique among any realistic number of distinct numbers
REDACTED = "tel-redacted"
# Digit groups joined by the separators phone numbers are written with (space, - . _ and brackets),
# optionally led by + or an opening bracket.
_DIGIT_RUN = re.compile(r"\+?\(?\d+(?:[ ()._\-]{1,3}\d+)*\)?")
_DIGITS = re.compile(r"\d+")
# Hex digits written as letters, so a pseudonym never contains a digit run of its own.
_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _is_date(digits: str) -> bool:
    """YYYYMMDD of this century, a real calendar day (the form `recordings._DATE_IN_PATH` reads)."""
    if len(digits) != 8 or not digits.startswith("20"):
        return False
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def _is_time(digits: str) -> bool:
    """HHMMSS or HHMM on a 24-hour clock."""
    if len(digits) not in (4, 6):
        return False
    parts = [int(digits[i:i + 2]) for i in range(0, len(digits), 2)]
    return parts[0] < 24 and all(p < 60 for p in parts[1:])


def _date_time_groups(groups: list[str]) -> set[int]:
    """Indices of the digit groups that spell a date (and the time after it), which are never phone numbers.

    Recognised: YYYYMMDD, YYYYMMDDHHMMSS, YYYY MM DD in three groups (any separator), and a
    time (HHMMSS, HHMM, HH MM SS) directly after a date. A time on its own has at most 6 digits,
    so it is never a phone number anyway; it is only exempt next to a date because "0161 123456"
    is a phone number whose second group happens to read as a time.
    """
    exempt: set[int] = set()
    i = 0
    while i < len(groups):
        g = groups[i]
        end = None
        if _is_date(g):
            end = i + 1
        elif len(g) == 14 and _is_date(g[:8]) and _is_time(g[8:]):
            end = i + 1
        elif (len(g) == 4 and i + 2 < len(groups) and len(groups[i + 1]) == 2 and len(groups[i + 2]) == 2
              and _is_date(g + groups[i + 1] + groups[i + 2])):
            end = i + 3
        if end is None:
            i += 1
            continue
        if end < len(groups) and _is_time(groups[end]):
            end += 1
        elif (end + 3 <= len(groups) and all(len(x) == 2 for x in groups[end:end + 3])
              and _is_time("".join(groups[end:end + 3]))):
            end += 3
        exempt.update(range(i, end))
        i = end
    return exempt


def phone_number_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every phone-number-like run in `text`: 7+ digits outside dates and times."""
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        groups = list(_DIGITS.finditer(run.group()))
        exempt = _date_time_groups([g.group() for g in groups])
        pending: list[re.Match] = []
        for index, group in enumerate([*groups, None]):
            if group is not None and index not in exempt:
                pending.append(group)
                continue
            if sum(len(g.group()) for g in pending) >= PHONE_MIN_DIGITS:
                start = run.start() + pending[0].start()
                if start > run.start() and text[start - 1] == "+":       # the leading + belongs to the number
                    start -= 1
                spans.append((start, run.start() + pending[-1].end()))
            pending = []
    return spans


def has_phone_number(text: str) -> bool:
    return bool(phone_number_spans(text))


def redact_phone_numbers(text: str) -> str:
    """Every phone-number-like run replaced by `tel-redacted`: irreversible, needs no key (error reasons)."""
    return _replace_spans(text, lambda number: REDACTED)


def _replace_spans(text: str, replacement) -> str:
    out, last = [], 0
    for start, end in phone_number_spans(text):
        out += [text[last:start], replacement(text[start:end])]
        last = end
    return "".join(out + [text[last:]])


class PhoneNumberPseudonymiser:
    """``pseudonymiser(text)``: phone-number-like runs replaced by ``tel-<12 letters>`` keyed with the caller-id salt.

    The token is the first 48 bits of the same HMAC-SHA256 as ``caller_id_hash`` (of the digits,
    with a leading + kept), written with the letters a-p instead of hex digits so no pseudonym is
    itself a digit run. The same number gets the same token in every name, so re-runs are
    idempotent and a number in a file name stays linkable to the same caller's ``caller_id_hash``
    (its first 12 hex digits), never readable. Without a salt every run becomes ``tel-redacted``
    (``enabled`` is False, and callers that need a unique key refuse the recording instead).
    Picklable like the hasher it wraps: the salt is never in the pickle.
    """

    def __init__(self, hasher: CallerIdHasher | None):
        self.hasher = hasher

    def __repr__(self) -> str:
        return f"PhoneNumberPseudonymiser({self.hasher!r})"

    @property
    def enabled(self) -> bool:
        return self.hasher is not None and self.hasher.enabled

    def token(self, number: str) -> str:
        digits = ("+" if number.lstrip("(").startswith("+") else "") + "".join(_DIGITS.findall(number))
        if not self.enabled:
            return REDACTED
        return "tel-" + self.hasher(digits)[:TOKEN_CHARS].translate(_HEX_AS_LETTERS)

    def __call__(self, text: str) -> str:
        return _replace_spans(text, self.token)
