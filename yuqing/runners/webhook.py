"""The webhook runner: each delivery posted as a Markdown message to a chat robot or an HTTP endpoint.

Formats and how each is signed (`secret` optional everywhere):

- `generic`: JSON `yuqing.delivery/v1` plus `title` and `markdown`; headers
  `X-Yuqing-Timestamp: <unix s>` and `X-Yuqing-Signature: sha256=<hex>`,
  the HMAC-SHA256 of `"<timestamp>." + body` under the secret.
- `wecom` (企业微信群机器人): `{"msgtype": "markdown", "markdown": {"content"}}`,
  at most 4,096 bytes; the robot key in the URL is the secret.
- `dingtalk` (钉钉自定义机器人, 加签): `{"msgtype": "markdown", "markdown": {"title", "text"}}`;
  the URL gets `timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256(secret, "<ms>\\n<secret>")>`.
- `feishu` (飞书自定义机器人, 签名校验): an interactive card with a Markdown element;
  the body carries `timestamp` (s) and `sign` = base64 HMAC-SHA256 keyed by
  `"<timestamp>\\n<secret>"` over an empty message.
- `slack` (incoming webhook): `{"text", "blocks": [header, mrkdwn section]}`.

A 2xx answer counts only when the tool says ok in its body too (errcode /
code 0, Slack `ok`). Network errors, 429, 5xx and rate-limit codes are
retried with exponential back-off; when the attempts run out the delivery is
acknowledged FAILED with retry (the bus sends it again later); any other
refusal is FAILED without retry, with the tool's answer as the detail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from yuqing.bus.client import Outcome
from yuqing.errors import UserError
from yuqing.proto import action_bus_pb2
from yuqing.runners.format import delivery_dict, markdown, slack_mrkdwn

log = logging.getLogger(__name__)
FORMATS = ("generic", "wecom", "dingtalk", "feishu", "slack")
WECOM_MAX_BYTES = 4096
# Answers that mean "too fast, try later": DingTalk 130101, WeCom 45009, Feishu 11232.
_RATE_LIMITED = {130101, 45009, 11232}


def sign_generic(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `"<timestamp>." + body`.

    >>> sign_generic("k", "1700000000", b"{}")[:15]
    'sha256=c6ef4734'
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign_dingtalk(secret: str, timestamp_ms: str) -> str:
    """DingTalk 加签: base64 HMAC-SHA256(secret, "<ms>\\n<secret>"), not yet URL-encoded."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def sign_feishu(secret: str, timestamp: str) -> str:
    """Feishu 签名校验: base64 HMAC-SHA256 keyed by "<timestamp>\\n<secret>" over an empty message."""
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookRunner:
    """Posts each delivery to `url` in `format`; a handler for `RunnerClient.run`."""

    url: str
    format: str = "generic"
    secret: str = ""
    attempts: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 10.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise UserError(f"webhook format {self.format!r}: use one of {', '.join(FORMATS)}")
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise UserError(f"webhook URL {self.url!r}: give an http:// or https:// URL")

    def request(self, delivery: action_bus_pb2.Delivery) -> Request:
        """The HTTP request for one delivery (signed with the current time)."""
        title, text = markdown(delivery)
        url, headers = self.url, {"Content-Type": "application/json; charset=utf-8"}
        now = self.clock()
        body: dict
        if self.format == "generic":
            body = {**delivery_dict(delivery), "title": title, "markdown": text}
            headers["X-Yuqing-Key"] = body["key"]
        elif self.format == "wecom":
            body = {"msgtype": "markdown", "markdown": {"content": _cut_bytes(text, WECOM_MAX_BYTES)}}
        elif self.format == "dingtalk":
            body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
            if self.secret:
                ms = str(int(now * 1000))
                query = urllib.parse.urlencode({"timestamp": ms, "sign": sign_dingtalk(self.secret, ms)})
                url = f"{url}{'&' if '?' in url else '?'}{query}"
        elif self.format == "feishu":
            body = {"msg_type": "interactive", "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": title}, "template": _colour(delivery)},
                "elements": [{"tag": "markdown", "content": _without_heading(text)}]}}
            if self.secret:
                seconds = str(int(now))
                body = {"timestamp": seconds, "sign": sign_feishu(self.secret, seconds), **body}
        else:  # slack
            body = {"text": title, "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn",
                                             "text": slack_mrkdwn(_without_heading(text))[:3000]}}]}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if self.format == "generic" and self.secret:
            seconds = str(int(now))
            headers["X-Yuqing-Timestamp"] = seconds
            headers["X-Yuqing-Signature"] = sign_generic(self.secret, seconds, data)
        return Request(url, data, headers)

    def __call__(self, delivery: action_bus_pb2.Delivery) -> Outcome:
        delay = self.backoff
        detail = ""
        for attempt in range(1, self.attempts + 1):
            req = self.request(delivery)  # signed afresh: robots reject stale timestamps
            ok, retryable, detail, wait = self._post(req)
            if ok:
                return Outcome.done(f"{self.format}: {detail}"[:500])
            if not retryable:
                return Outcome.failed(f"{self.format} refused: {detail}"[:2000])
            if attempt < self.attempts:
                log.warning("webhook %s attempt %d failed (%s); retrying in %.1f s",
                            self.format, attempt, detail, wait or delay)
                self.sleep(min(wait or delay, self.max_backoff))
                delay = min(delay * 2, self.max_backoff)
        return Outcome.failed(f"{self.format}: gave up after {self.attempts} attempts: {detail}"[:2000],
                              retry=True)

    def _post(self, req: Request) -> tuple[bool, bool, str, float]:
        """(ok, retryable, detail, retry-after seconds) of one POST."""
        http = urllib.request.Request(req.url, data=req.body, headers=req.headers, method="POST")
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as answer:
                status, text = answer.status, answer.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            text = err.read(1024).decode("utf-8", "replace") if err.fp else ""
            retry_after = _seconds(err.headers.get("Retry-After")) if err.headers else 0.0
            return False, err.code == 429 or err.code >= 500, f"HTTP {err.code}: {text}".strip(), retry_after
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            return False, True, f"cannot reach {urllib.parse.urlsplit(req.url).netloc}: {reason}", 0.0
        return self._judge(status, text)

    def _judge(self, status: int, text: str) -> tuple[bool, bool, str, float]:
        if self.format == "slack":
            return text.strip() == "ok", False, f"HTTP {status}: {text}".strip(), 0.0
        if self.format == "generic":
            return True, False, f"HTTP {status}", 0.0
        try:
            answer = json.loads(text)
        except ValueError:
            return False, False, f"HTTP {status}, not JSON: {text[:200]}", 0.0
        if not isinstance(answer, dict):
            return False, False, f"HTTP {status}, unexpected answer: {text[:200]}", 0.0
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
        message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
        if code == 0:
            return True, False, f"ok {message}".strip(), 0.0
        return False, code in _RATE_LIMITED, f"code {code}: {message}", 0.0


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _without_heading(text: str) -> str:
    lines = text.split("\n")
    if lines and lines[0].startswith("## "):
        lines = lines[1:]
    return "\n".join(f"**{ln[4:]}**" if ln.startswith("### ") else ln for ln in lines).strip()


def _colour(delivery: action_bus_pb2.Delivery) -> str:
    if delivery.WhichOneof("payload") == "ticket":
        return "blue"
    return {3: "red", 2: "orange", 1: "yellow"}.get(delivery.activation.tier, "grey")


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0
