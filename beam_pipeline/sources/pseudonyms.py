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
