"""AWS Signature Version 4, checked on the server side with botocore's own signer.

The request is rebuilt from what the client signed (its SignedHeaders, the body, the
X-Amz-Date it chose) and signed again with the configured secret; the signatures must match.
Refusals use the codes AWS answers with: MissingAuthenticationTokenException (unsigned),
UnrecognizedClientException (an unknown access key), InvalidSignatureException (a wrong
signature, or a date more than 5 minutes off).

Replays (ReplayGuard): a request that changes what is stored (an operation marked
``@operation(..., changes=True)``) is refused when its signature was already used, while the
signature lives; all server processes share the record (one SQLite file). Requests carrying
their idempotency token (ClientRequestToken) are not checked: the operation answers each token
once, so a copy (or an SDK's retry signed in the same second) changes nothing. Reads are not
checked: SDK clients sending the same read in the same second (8 boto3 clients, one photo) sign
it identically, and a replayed read tells an eavesdropper nothing the captured exchange did not.
"""

from __future__ import annotations

import datetime
import hmac
import re
import sqlite3
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from facelake.schemas.errors import error_class

MissingAuthenticationTokenException = error_class("MissingAuthenticationTokenException", 403)
UnrecognizedClientException = error_class("UnrecognizedClientException", 403)
InvalidSignatureException = error_class("InvalidSignatureException", 403)

MAX_SKEW = 300  # seconds, as AWS
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})")


def load_keys(text: str) -> dict[str, str]:
    """Access keys from ``ACCESS_KEY_ID SECRET_ACCESS_KEY`` lines (or ``ID:SECRET`` separated
    by commas, as FACELAKE_ACCESS_KEYS may give them); # starts a comment."""
    keys = {}
    for line in re.split(r"[\n,]", text):
        line = line.split("#", 1)[0].strip()
        if line:
            parts = line.replace(":", " ", 1).split()
            if len(parts) != 2:
                raise ValueError(f"an access key line must be 'ACCESS_KEY_ID SECRET_ACCESS_KEY', got {line[:20]!r}...")
            keys[parts[0]] = parts[1]
    return keys


class Verifier:
    def __init__(self, keys: dict[str, str], service: str = "rekognition"):
        self.keys, self.service = keys, service

    def verify(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
        """The access key that signed the request and its signature; raises a RekognitionError
        otherwise. ``headers``: lower-case names."""
        auth = headers.get("authorization")
        if not auth:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        m = _AUTH.fullmatch(auth.strip())
        if not m:
            raise InvalidSignatureException("the Authorization header is not an AWS4-HMAC-SHA256 signature")
        key_id, day, region, service, signed, signature = m.groups()
        secret = self.keys.get(key_id)
        if secret is None:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        amz_date = headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise InvalidSignatureException("X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ") from None
        skew = abs(time.time() - when.timestamp())
        if skew > MAX_SKEW or amz_date[:8] != day:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than {MAX_SKEW // 60} minutes from the server's time")
        names = signed.split(";")
        if "host" not in names or any(n not in headers for n in names) or service != self.service:
            raise InvalidSignatureException("the signature does not cover this request's host, target and date")
        request = AWSRequest(method=method, url=url, data=body, headers={n: headers[n] for n in names})
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key_id, secret, headers.get("x-amz-security-token")), service, region)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, signature):
            raise InvalidSignatureException("The request signature we calculated does not match the signature you "
                                            "provided. Check your AWS Secret Access Key and signing method.")
        return key_id, signature


class ReplayGuard:
    """Signatures used in the last MAX_SKEW seconds (past that a request is refused as expired),
    in a SQLite file every server process shares (``:memory:`` for one process)."""

    def __init__(self, path: str = ":memory:"):
        self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS used (signature TEXT PRIMARY KEY, until REAL)")
        self.lock = threading.Lock()
        self.purged = 0.0

    def use(self, signature: str) -> None:
        """Records ``signature``; raises InvalidSignatureException if it was used before."""
        now = time.time()
        with self.lock:
            if now - self.purged > 60:
                self.db.execute("DELETE FROM used WHERE until < ?", (now,))
                self.purged = now
            try:
                self.db.execute("INSERT INTO used VALUES (?, ?)", (signature, now + 2 * MAX_SKEW))
            except sqlite3.IntegrityError:
                raise InvalidSignatureException("Signature already used: this request was replayed") from None
