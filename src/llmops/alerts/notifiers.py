"""Delivery of alert notifications: Slack incoming webhooks, generic webhooks, email, log.

Every notifier has one method, ``send(action, notification)``, that returns the number of
attempts it made or raises :class:`DeliveryFailed`. Secrets in an action's config are
``env:NAME`` references, resolved here at send time and scrubbed from every error message.

HTTP delivery follows :class:`RetryPolicy`: a 429 waits for ``Retry-After`` (capped), 5xx
answers and network errors are retried with exponential backoff, any other 4xx is permanent.
``sleep`` is injected so tests do not wait.
"""

from __future__ import annotations

import email.utils
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

from llmops.alerts.evaluation import NoticeKind
from llmops.errors import ConfigError, LLMOpsError
from llmops.models.alerts import (
    AlertAction,
    AlertEvent,
    AlertRule,
    EmailAction,
    LogAction,
    SlackAction,
    WebhookAction,
)
from llmops.secrets import resolve, scrub

__all__ = [
    "DeliveryFailed",
    "EmailNotifier",
    "LogNotifier",
    "Notification",
    "Notifier",
    "RetryPolicy",
    "SlackNotifier",
    "WebhookNotifier",
    "default_notifiers",
    "retry_delay",
]

logger = logging.getLogger("llmops.alerts")


class DeliveryFailed(LLMOpsError):
    """A notification could not be delivered (the message never contains a secret)."""

    def __init__(self, message: str, *, attempts: int, permanent: bool) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Notification:
    """What happened to which event of which rule, and the metric summary behind it."""

    kind: NoticeKind
    rule: AlertRule
    event: AlertEvent
    summary: str
    at: datetime

    @property
    def title(self) -> str:
        state = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}[self.kind]
        return (
            f"[{state}] [{self.event.severity.upper()}] {self.rule.name} "
            f"({self.rule.environment}, {self.rule.type})"
        )

    @property
    def text(self) -> str:
        lines = [self.title, self.summary]
        lines.append(f"event {self.event.id} triggered at {self.event.triggered_at.isoformat()}")
        if self.kind == "resolved" and self.event.resolved_at is not None:
            lines.append(f"resolved at {self.event.resolved_at.isoformat()}")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The generic webhook body: status firing or resolved, rule, event, details."""
        return {
            "status": "resolved" if self.kind == "resolved" else "firing",
            "notice": self.kind,
            "rule": {
                "id": str(self.rule.id),
                "name": self.rule.name,
                "type": self.rule.type,
                "environment": self.rule.environment,
                "severity": self.rule.severity,
            },
            "event": {
                "id": str(self.event.id),
                "severity": self.event.severity,
                "status": self.event.status,
                "message": self.event.message,
                "triggered_at": self.event.triggered_at.isoformat(),
                "resolved_at": self.event.resolved_at.isoformat()
                if self.event.resolved_at
                else None,
            },
            "details": self.event.details.model_dump(mode="json", exclude={"deliveries"}),
            "summary": self.summary,
            "sent_at": self.at.isoformat(),
        }


class Notifier(Protocol):
    """Delivers one notification for one action; returns attempts made or raises DeliveryFailed."""

    def send(self, action: AlertAction, notification: Notification) -> int: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How HTTP deliveries retry: ``attempts`` in all, backoff ``base * 2**n`` up to ``max``."""

    attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    timeout: float = 10.0


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay(
    policy: RetryPolicy, attempt: int, status: int | None, retry_after: str | None = None
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to stop.

    ``status`` None means a network error. Pure: the caller sleeps.
    """
    if status is not None and 200 <= status < 300:
        return None
    if status is not None and 400 <= status < 500 and status != 429:
        return None  # permanent
    if attempt >= policy.attempts:
        return None
    backoff = float(min(policy.backoff_max, policy.backoff_base * 2.0 ** (attempt - 1)))
    if status == 429:
        hinted = _parse_retry_after(retry_after)
        return min(policy.retry_after_max, hinted) if hinted is not None else backoff
    return backoff


@dataclass
class _HttpPoster:
    policy: RetryPolicy
    sleep: Callable[[float], None]

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *secrets: str) -> int:
        attempt = 0
        while True:
            attempt += 1
            status: int | None
            retry_after: str | None = None
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", **headers},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.policy.timeout) as response:
                    status = int(response.status)
                    response.read()
                problem = f"HTTP {status}"
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                problem = f"HTTP {status} {exc.reason}"
                exc.close()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                status = None
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                problem = f"network error: {reason}"
            if status is not None and 200 <= status < 300:
                return attempt
            delay = retry_delay(self.policy, attempt, status, retry_after)
            if delay is None:
                permanent = status is not None and 400 <= status < 500 and status != 429
                raise DeliveryFailed(
                    scrub(
                        f"{problem} after {attempt} attempt(s)"
                        + (" (permanent)" if permanent else ""),
                        url,
                        *secrets,
                    ),
                    attempts=attempt,
                    permanent=permanent,
                )
            logger.info("alert delivery: %s; retrying in %.1fs", scrub(problem, url), delay)
            self.sleep(delay)


@dataclass
class SlackNotifier:
    """Slack incoming webhook: a JSON body with ``text`` (and ``channel`` when configured)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    environ: Mapping[str, str] | None = None

    def send(self, action: AlertAction, notification: Notification) -> int:
        if not isinstance(action, SlackAction):
            raise ConfigError(f"slack notifier got a {action.type} action")
        url = resolve(action.config.webhook_url, environ=self.environ, field="config.webhookUrl")
        body: dict[str, Any] = {"text": notification.text}
        if action.config.channel:
            body["channel"] = action.config.channel
        poster = _HttpPoster(self.policy, self.sleep)
        return poster.post(url, json.dumps(body).encode(), {})


@dataclass
class WebhookNotifier:
    """Generic webhook: POSTs :meth:`Notification.payload` as JSON; header values are secrets."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    environ: Mapping[str, str] | None = None

    def send(self, action: AlertAction, notification: Notification) -> int:
        if not isinstance(action, WebhookAction):
            raise ConfigError(f"webhook notifier got a {action.type} action")
        url = resolve(action.config.url, environ=self.environ, field="config.url")
        headers = {
            name: resolve(ref, environ=self.environ, field=f"config.headers.{name}")
            for name, ref in action.config.headers.items()
        }
        body = json.dumps(notification.payload()).encode()
        return _HttpPoster(self.policy, self.sleep).post(url, body, headers, *headers.values())


@dataclass
class EmailNotifier:
    """Email over SMTP (smtplib): ``tls`` none, starttls or ssl; optional login.

    SMTP 4xx replies and connection errors are retried like HTTP 5xx; 5xx replies are permanent.
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    environ: Mapping[str, str] | None = None
    ssl_context: ssl.SSLContext | None = None

    def send(self, action: AlertAction, notification: Notification) -> int:
        if not isinstance(action, EmailAction):
            raise ConfigError(f"email notifier got a {action.type} action")
        cfg = action.config
        password = (
            resolve(cfg.password, environ=self.environ, field="config.password")
            if cfg.password
            else None
        )
        message = EmailMessage()
        message["Subject"] = notification.title
        message["From"] = cfg.sender
        message["To"] = ", ".join(cfg.to)
        message["Date"] = email.utils.format_datetime(notification.at)
        message.set_content(notification.text)
        attempt = 0
        while True:
            attempt += 1
            try:
                self._deliver(action, message, password)
                return attempt
            except smtplib.SMTPResponseException as exc:
                problem = f"SMTP {exc.smtp_code}"
                permanent = exc.smtp_code >= 500
            except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
                # the server cannot do what the config asks (AUTH, TLS): retrying cannot help
                problem = f"SMTP error: {type(exc).__name__}: {exc}"
                permanent = True
            except (smtplib.SMTPException, OSError) as exc:
                problem = f"SMTP error: {type(exc).__name__}: {exc}"
                permanent = False
            delay = None if permanent else retry_delay(self.policy, attempt, None)
            if delay is None:
                raise DeliveryFailed(
                    scrub(f"{problem} after {attempt} attempt(s)", password),
                    attempts=attempt,
                    permanent=permanent,
                )
            self.sleep(delay)

    def _deliver(self, action: EmailAction, message: EmailMessage, password: str | None) -> None:
        cfg = action.config
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if cfg.tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout)
        with smtp:
            if cfg.tls == "starttls":
                smtp.starttls(context=context)
            if cfg.username and password:
                smtp.login(cfg.username, password)
            smtp.send_message(message)


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@dataclass
class LogNotifier:
    """Writes the notification to the ``llmops.alerts`` logger at the action's level."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("llmops.alerts"))

    def send(self, action: AlertAction, notification: Notification) -> int:
        level = _LEVELS[action.config.level] if isinstance(action, LogAction) else logging.WARNING
        self.logger.log(level, "%s", notification.text.replace("\n", " | "))
        return 1


def default_notifiers(
    *, sleep: Callable[[float], None] = time.sleep, policy: RetryPolicy | None = None
) -> dict[str, Notifier]:
    """One notifier per action type, sharing ``sleep`` and ``policy``."""
    p = policy or RetryPolicy()
    return {
        "slack": SlackNotifier(policy=p, sleep=sleep),
        "webhook": WebhookNotifier(policy=p, sleep=sleep),
        "email": EmailNotifier(policy=p, sleep=sleep),
        "log": LogNotifier(),
    }
