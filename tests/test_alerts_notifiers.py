"""Alert delivery (llmops.alerts.notifiers) against local HTTP and SMTP servers."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from llmops.alerts.notifiers import (
    DeliveryFailed,
    EmailNotifier,
    LogNotifier,
    Notification,
    RetryPolicy,
    SlackNotifier,
    WebhookNotifier,
    retry_delay,
)
from llmops.models.alerts import (
    AlertEvent,
    AlertEventDetails,
    AlertRule,
    EmailAction,
    LogAction,
    SlackAction,
    WebhookAction,
)

NOW = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
SECRET_PATH = "/services/T000/B000/s3cr3t-t0ken"

RULE = AlertRule.model_validate(
    {
        "id": uuid.uuid4(),
        "name": "spend",
        "environment": "production",
        "type": "cost_threshold",
        "severity": "high",
        "conditions": [{"metric": "total_cost", "operator": "gt", "value": 10, "timeWindow": 60}],
    }
)
EVENT = AlertEvent(
    id=uuid.uuid4(),
    rule_id=RULE.id,  # type: ignore[arg-type]
    rule_name="spend",
    severity="high",
    message="spend (production, cost_threshold): total_cost sum over 60 min = 12.5",
    details=AlertEventDetails(
        metrics={"total_cost": 12.5}, conditions=RULE.conditions, environment="production"
    ),
    environment="production",
    triggered_at=NOW,
)
FIRING = Notification("firing", RULE, EVENT, "total_cost sum over 60 min = 12.5 (> 10: yes)", NOW)


class Script:
    """A local HTTP server answering POSTs from a script of (status, headers) and recording them."""

    def __init__(self, *answers: tuple[int, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                script.requests.append((self.path, dict(self.headers), json.loads(body)))
                status, headers = script.answers.pop(0) if script.answers else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[Script] = []

    def make(*answers: tuple[int, dict[str, str]]) -> Script:
        servers.append(Script(*answers))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def slack(channel: str | None = "#alerts") -> SlackAction:
    return SlackAction.model_validate(
        {"type": "slack", "config": {"webhookUrl": "env:SLACK_WEBHOOK_URL", "channel": channel}}
    )


def test_slack_honours_retry_after_then_retries_5xx_then_succeeds(server_factory: Any) -> None:
    """429 Retry-After: 7, then 500, then 200: three attempts, waits 7s then backoff 2s."""
    server = server_factory((429, {"Retry-After": "7"}), (500, {}), (200, {}))
    sleeps: list[float] = []
    notifier = SlackNotifier(sleep=sleeps.append, environ={"SLACK_WEBHOOK_URL": server.url})
    assert notifier.send(slack(), FIRING) == 3
    assert sleeps == [7.0, 2.0]
    assert len(server.requests) == 3
    path, _, body = server.requests[-1]
    assert path == SECRET_PATH
    assert body["channel"] == "#alerts"
    assert body["text"].startswith("[FIRING] [HIGH] spend (production, cost_threshold)")
    assert "total_cost sum over 60 min = 12.5" in body["text"]


def test_slack_400_is_permanent_and_never_shows_the_url(server_factory: Any) -> None:
    """A 400 fails at once (no retry, no sleep) and the error does not contain the webhook URL."""
    server = server_factory((400, {}), (200, {}))
    sleeps: list[float] = []
    notifier = SlackNotifier(sleep=sleeps.append, environ={"SLACK_WEBHOOK_URL": server.url})
    with pytest.raises(DeliveryFailed) as info:
        notifier.send(slack(), FIRING)
    assert info.value.permanent and info.value.attempts == 1
    assert sleeps == [] and len(server.requests) == 1
    assert "400" in str(info.value)
    assert "s3cr3t" not in str(info.value) and "127.0.0.1" not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_network_errors_retry_with_backoff_then_give_up() -> None:
    """Connection refused is retried with exponential backoff, then fails (not permanent)."""
    url = f"http://127.0.0.1:{_closed_port()}{SECRET_PATH}"
    sleeps: list[float] = []
    notifier = SlackNotifier(
        sleep=sleeps.append, environ={"SLACK_WEBHOOK_URL": url}, policy=RetryPolicy(attempts=4)
    )
    with pytest.raises(DeliveryFailed) as info:
        notifier.send(slack(None), FIRING)
    assert not info.value.permanent and info.value.attempts == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert "s3cr3t" not in str(info.value)


def test_retry_after_is_capped(server_factory: Any) -> None:
    """A Retry-After beyond the policy's cap waits only the cap."""
    server = server_factory((429, {"Retry-After": "86400"}), (200, {}))
    sleeps: list[float] = []
    notifier = SlackNotifier(
        sleep=sleeps.append,
        environ={"SLACK_WEBHOOK_URL": server.url},
        policy=RetryPolicy(retry_after_max=60),
    )
    assert notifier.send(slack(), FIRING) == 2
    assert sleeps == [60.0]


@pytest.mark.parametrize(
    ("attempt", "status", "retry_after", "expected"),
    [
        (1, 200, None, None), (1, 400, None, None), (1, 404, None, None), (1, 401, None, None),
        (1, 500, None, 1.0), (2, 503, None, 2.0), (3, None, None, 4.0), (4, 500, None, None),
        (1, 429, "3", 3.0), (1, 429, "junk", 1.0), (1, 429, None, 1.0), (4, 429, "1", None),
    ],
)  # fmt: skip
def test_retry_delay_policy(
    attempt: int, status: int | None, retry_after: str | None, expected: float | None
) -> None:
    """The pure retry policy: 4xx permanent, 5xx/network backoff, 429 Retry-After, attempts cap."""
    assert retry_delay(RetryPolicy(attempts=4), attempt, status, retry_after) == expected


def test_webhook_posts_status_rule_event_details_with_secret_header(server_factory: Any) -> None:
    """The generic webhook body has status, rule, event and details; header secrets are resolved."""
    server = server_factory((200, {}))
    action = WebhookAction.model_validate(
        {
            "type": "webhook",
            "config": {"url": "env:HOOK_URL", "headers": {"Authorization": "env:HOOK_TOKEN"}},
        }
    )
    notifier = WebhookNotifier(environ={"HOOK_URL": server.url, "HOOK_TOKEN": "Bearer abc"})
    resolved = Notification(
        "resolved",
        RULE,
        EVENT.model_copy(update={"status": "resolved", "resolved_at": NOW}),
        "",
        NOW,
    )
    assert notifier.send(action, FIRING) == 1
    server.answers.append((200, {}))
    assert notifier.send(action, resolved) == 1
    (_, headers, firing), (_, _, done) = server.requests
    assert headers["Authorization"] == "Bearer abc"
    assert firing["status"] == "firing" and done["status"] == "resolved"
    assert firing["rule"]["name"] == "spend" and firing["rule"]["severity"] == "high"
    assert firing["event"]["id"] == str(EVENT.id)
    assert firing["details"]["metrics"] == {"total_cost": 12.5}
    assert done["event"]["resolved_at"] == NOW.isoformat()


def test_webhook_error_never_contains_header_secret(server_factory: Any) -> None:
    """A failing webhook's error names the status, never the URL or a header value."""
    server = server_factory((403, {}))
    action = WebhookAction.model_validate(
        {"type": "webhook", "config": {"url": "env:U", "headers": {"X-Key": "env:K"}}}
    )
    with pytest.raises(DeliveryFailed) as info:
        WebhookNotifier(environ={"U": server.url, "K": "k-123"}).send(action, FIRING)
    assert "403" in str(info.value) and "k-123" not in str(info.value)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.reject: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject:
            return self.reject
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


class _Auth:
    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"smtp-pass", handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox, _Auth]]:
    inbox, auth = _Inbox(), _Auth()
    port = _closed_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False
    )
    controller.start()
    yield port, inbox, auth
    controller.stop()


def email_action(port: int, **config: Any) -> EmailAction:
    return EmailAction.model_validate(
        {
            "type": "email",
            "config": {
                "to": ["ops@example.com", "oncall@example.com"],
                "from": "llmops@example.com",
                "smtpHost": "127.0.0.1",
                "smtpPort": port,
                "tls": "none",
                **config,
            },
        }
    )


def test_email_is_received_by_an_smtp_server_with_login(smtp: Any) -> None:
    """The email arrives with subject, recipients and body; login uses the env: password."""
    port, inbox, auth = smtp
    action = email_action(port, username="alerts",
                          password="env:SMTP_PASSWORD")  # fmt: skip
    notifier = EmailNotifier(environ={"SMTP_PASSWORD": "smtp-pass"})
    assert notifier.send(action, FIRING) == 1
    [(sender, rcpts, content)] = inbox.messages
    assert sender == "llmops@example.com"
    assert rcpts == ["ops@example.com", "oncall@example.com"]
    msg = message_from_bytes(content, policy=policy.default)
    assert msg["Subject"] == "[FIRING] [HIGH] spend (production, cost_threshold)"
    assert "total_cost sum over 60 min = 12.5" in msg.get_payload(decode=True).decode()
    assert auth.logins == [("alerts", "smtp-pass")]


def test_email_rejection_is_permanent_and_wrong_password_not_echoed(smtp: Any) -> None:
    """A 5xx SMTP reply is permanent; a refused login's error never contains the password."""
    port, inbox, _ = smtp
    inbox.reject = "550 mailbox unavailable"
    sleeps: list[float] = []
    with pytest.raises(DeliveryFailed) as info:
        EmailNotifier(sleep=sleeps.append).send(email_action(port), FIRING)
    assert info.value.permanent and "550" in str(info.value) and sleeps == []
    wrong = email_action(port, username="alerts", password="env:SMTP_PASSWORD")
    with pytest.raises(DeliveryFailed) as info:
        EmailNotifier(sleep=sleeps.append, environ={"SMTP_PASSWORD": "hunter2"}).send(wrong, FIRING)
    assert "535" in str(info.value) and "hunter2" not in str(info.value)


def test_email_unreachable_server_is_retried() -> None:
    """A refused SMTP connection is retried with backoff, then fails (not permanent)."""
    sleeps: list[float] = []
    notifier = EmailNotifier(sleep=sleeps.append, policy=RetryPolicy(attempts=3))
    with pytest.raises(DeliveryFailed) as info:
        notifier.send(email_action(_closed_port()), FIRING)
    assert not info.value.permanent and info.value.attempts == 3 and sleeps == [1.0, 2.0]


def test_log_notifier_logs_at_the_action_level(caplog: pytest.LogCaptureFixture) -> None:
    """The log action writes one line at its configured level to the llmops.alerts logger."""
    action = LogAction.model_validate({"type": "log", "config": {"level": "error"}})
    with caplog.at_level(logging.INFO, logger="llmops.alerts"):
        assert LogNotifier().send(action, FIRING) == 1
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.name == "llmops.alerts"
    assert "[FIRING] [HIGH] spend" in record.getMessage() and "\n" not in record.getMessage()


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


class _TlsInbox(_Inbox):
    """An inbox that also records whether each message arrived over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.encrypted.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_email_over_starttls_and_implicit_tls_with_login(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext], mode: str
) -> None:
    """tls=starttls upgrades before login (the server requires it); tls=ssl connects over TLS."""
    server_ctx, client_ctx = tls_contexts
    inbox, auth, port = _TlsInbox(), _Auth(), _closed_port()
    options: dict[str, Any] = (
        {"tls_context": server_ctx, "require_starttls": True}
        if mode == "starttls"
        else {"ssl_context": server_ctx}
    )
    # aiosmtpd only knows about STARTTLS when it checks auth_require_tls; with implicit TLS
    # every byte is encrypted anyway (a plain client could not even read the greeting)
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=auth,
        auth_require_tls=mode == "starttls", **options,
    )  # fmt: skip
    controller.start()
    try:
        action = email_action(port, tls=mode, username="alerts", password="env:SMTP_PASSWORD")
        notifier = EmailNotifier(environ={"SMTP_PASSWORD": "smtp-pass"}, ssl_context=client_ctx)
        assert notifier.send(action, FIRING) == 1
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    if mode == "starttls":
        assert inbox.encrypted == [True]
    assert auth.logins == [("alerts", "smtp-pass")]


def test_email_to_an_untrusted_certificate_is_a_permanent_failure(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """STARTTLS to a server whose certificate is not trusted fails at once, not after retries."""
    server_ctx, _ = tls_contexts
    port = _closed_port()
    controller = Controller(
        _Inbox(), hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True
    )
    controller.start()
    sleeps: list[float] = []
    try:
        with pytest.raises(DeliveryFailed) as info:
            EmailNotifier(sleep=sleeps.append).send(email_action(port, tls="starttls"), FIRING)
    finally:
        controller.stop()
    assert info.value.permanent and info.value.attempts == 1 and sleeps == []
    assert "SSLCertVerificationError" in str(info.value)
