"""HAR from Cloudflare's URL Scanner: `read_urlscan(account_id, scan_id, token=...)`.

`GET {base_url}/accounts/{account_id}/urlscanner/v2/har/{scan_id}` ("Get URL scan's HAR").
Cloudflare's API reference documents the 200 body as the HAR itself (`{"log": {...}}`, written
by chrome-har: pages, pageTimings, `_resourceType`, `_initiator_type`, `_priority`,
`_transferSize`); the deprecated v1 endpoint wrapped it in the usual `{"result": ...}`
envelope, so both are accepted. Errors come in the usual envelope
`{"success": false, "errors": [{"code", "message"}], ...}`.

Credentials (an API token, or an e-mail plus the global API key) go only into request
headers: never into the Session, its report, a repr or an error message.
"""

from __future__ import annotations

import email.utils
import os
import re
import time

import msgspec

from necto_nb.errors import ArgumentError, HarError, UrlscanError
from necto_nb.session import Session, read_har

BASE_URL = "https://api.cloudflare.com/client/v4"
_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")
_top_level = msgspec.json.Decoder(dict[str, msgspec.Raw])
_any = msgspec.json.Decoder()


def read_urlscan(account_id: str, scan_id: str, *, token: str | None = None, email: str | None = None,
                 api_key: str | None = None, base_url: str = BASE_URL, name: str | None = None,
                 strict: bool = False, timeout: float = 60.0) -> Session:
    """The HAR of a finished URL Scanner scan, as a Session.

    Authenticate with `token` (an API token with URL Scanner Read or Write) or with `email`
    plus `api_key` (the global API key). With none given, the environment variables the
    official Cloudflare SDKs read are used: CLOUDFLARE_API_TOKEN, or CLOUDFLARE_EMAIL plus
    CLOUDFLARE_API_KEY. Raises `UrlscanError` (a `HarError`) for 401, 403, 404 (unknown scan
    or still running), 429 (with `retry_after`), 5xx, an unreachable API, and a body that is
    not a HAR.
    """
    for label, value in (("account_id", account_id), ("scan_id", scan_id)):
        if not isinstance(value, str) or not _ID.match(value):
            raise ArgumentError(f"{label} must be letters, digits, '-' or '_' (as Cloudflare shows it), not {value!r}")
    headers, secrets = _auth_headers(token, email, api_key)
    base = base_url.rstrip("/")
    # The credentials travel with the request: only over TLS, or to this machine for tests.
    if not (base.startswith("https://") or _LOOPBACK.match(base + "/")):
        raise ArgumentError(f"base_url must be https:// (plain http only on loopback), not {base_url!r}")
    url = f"{base}/accounts/{account_id}/urlscanner/v2/har/{scan_id}"
    where = f"URL Scanner scan {scan_id} (account {account_id})"
    body, status, retry_after, failure = _get(url, headers, timeout)
    if failure is not None:
        raise UrlscanError(_scrub(f"{where}: could not reach {base}: {failure}", secrets))
    if status != 200:
        raise UrlscanError(_scrub(f"{where}: {_explain(status, body, retry_after)}", secrets),
                           status=status, retry_after=retry_after)
    har = _har_bytes(body, where, secrets)
    try:
        return read_har(har, name=name or f"urlscan {scan_id}", strict=strict)
    except HarError as e:
        message, issues = _scrub(f"{where}: the HAR in the response cannot be read: {e}", secrets), e.issues
    raise UrlscanError(message, status=status, issues=issues)


def _auth_headers(token: str | None, email: str | None, api_key: str | None) -> tuple[dict[str, str], list[str]]:
    """The request headers, and every credential string to scrub from messages."""
    if token is None and email is None and api_key is None:
        token = os.environ.get("CLOUDFLARE_API_TOKEN") or None
        if token is None:
            email = os.environ.get("CLOUDFLARE_EMAIL") or None
            api_key = os.environ.get("CLOUDFLARE_API_KEY") or None
    if token is not None and (email is not None or api_key is not None):
        raise ArgumentError("give either token, or email with api_key, not both")
    if token is not None:
        if not isinstance(token, str) or not token.strip():
            raise ArgumentError("token must be a non-empty string")
        return {"Authorization": f"Bearer {token.strip()}"}, [token.strip()]
    if isinstance(email, str) and isinstance(api_key, str) and email.strip() and api_key.strip():
        return {"X-Auth-Email": email.strip(), "X-Auth-Key": api_key.strip()}, [email.strip(), api_key.strip()]
    raise ArgumentError(
        "read_urlscan needs credentials: token=... (an API token with URL Scanner Read), or email=... "
        "with api_key=... (the global API key), or CLOUDFLARE_API_TOKEN in the environment"
    )


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[bytes, int, float | None, str | None]:
    """Body, status, Retry-After and a failure description, with no exception left in flight.

    The description is built from the exception's text only: httpx's exceptions carry the
    request, and with it the Authorization header, so none escapes this function.
    """
    import httpx  # only when fetching: keeps `import necto_nb` light

    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json", **headers})
            return response.content, response.status_code, _retry_after(response.headers.get("Retry-After")), None
    except httpx.TimeoutException:
        failure = f"no answer within {timeout:g} s"
    except httpx.HTTPError as e:
        failure = f"{type(e).__name__}: {e}"
    return b"", 0, None, failure


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _cloudflare_messages(body: bytes) -> str:
    """The `errors[].message` (with codes) of Cloudflare's error envelope, if the body is one."""
    try:
        data = _any.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for error in errors[:5]:
        if isinstance(error, dict) and error.get("message"):
            code = f" [{error['code']}]" if error.get("code") is not None else ""
            parts.append(f"{str(error['message'])[:300]}{code}")
    return "; ".join(parts)


def _explain(status: int, body: bytes, retry_after: float | None) -> str:
    said = _cloudflare_messages(body)
    said = f" Cloudflare said: {said}" if said else ""
    if status == 401:
        return f"the credentials were rejected (401 Unauthorized): check the API token, or the e-mail and global API key.{said}"
    if status == 403:
        return (f"the credentials may not read URL Scanner results of this account (403 Forbidden): the API "
                f"token needs the account permission URL Scanner Read or Edit.{said}")
    if status == 404:
        return f"no such scan, or it has not finished yet (404 Not Found).{said}"
    if status == 429:
        wait = f" retry after {retry_after:g} s" if retry_after is not None else " retry later"
        return f"rate limited (429 Too Many Requests):{wait}.{said}"
    if 500 <= status <= 599:
        return f"Cloudflare's API failed ({status}); try again later.{said}"
    if status == 400:
        return f"the request was refused as invalid (400 Bad Request): check the account and scan ids.{said}"
    return f"unexpected answer {status} from the API.{said}"


def _har_bytes(body: bytes, where: str, secrets: list[str]) -> bytes:
    """The HAR's own JSON bytes, from a bare HAR or a `{"result": HAR}` envelope, without re-encoding."""
    text = body.removeprefix(b"\xef\xbb\xbf")
    try:
        fields = _top_level.decode(text)
    except msgspec.ValidationError:
        problem = "the response is JSON but not an object, so not a HAR"
    except msgspec.DecodeError as e:
        problem = f"the response is not JSON ({e}), so not a HAR"
    else:
        problem = ""
    if problem:
        start = text[:60].decode("utf-8", "replace")
        raise UrlscanError(_scrub(f"{where}: {problem}; it starts {start!r}", secrets), status=200)
    if "log" in fields:
        return text
    if "result" in fields:
        result = bytes(fields["result"])
        try:
            inner = _top_level.decode(result)
        except (msgspec.DecodeError, msgspec.ValidationError):
            inner = {}
        if "log" in inner:
            return result
        said = _cloudflare_messages(text)
        said = f" Cloudflare said: {said}." if said else ""
        raise UrlscanError(_scrub(f"{where}: the response's result holds no HAR (no result.log).{said}", secrets),
                           status=200)
    keys = ", ".join(sorted(fields)[:10]) or "none"
    raise UrlscanError(_scrub(f"{where}: the response is JSON but not a HAR: expected a 'log' (or 'result.log') "
                              f"object, found keys: {keys}", secrets), status=200)


def _scrub(message: str, secrets: list[str]) -> str:
    """Remove any credential an answer may have echoed back."""
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


__all__ = ["UrlscanError", "read_urlscan"]
