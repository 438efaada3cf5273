"""A local server speaking Gemini's ``generateContent`` protocol, with injected faults.

Point google-genai (``http_options.base_url``) or google-generativeai (REST transport,
``client_options.api_endpoint``) at ``server.base_url``. Requests arrive as
``POST /v1beta/models/<model>:generateContent``. Bodies follow the Gemini API: success
documents with ``candidates``/``usageMetadata``/``modelVersion``; errors as
``{"error": {"code", "message", "status", "details"}}`` with ``google.rpc`` details
(``RetryInfo``, ``ErrorInfo``); blocked answers as HTTP 200 with a ``finishReason`` of
SAFETY/RECITATION/... or a ``promptFeedback.blockReason``.
"""

from __future__ import annotations

import re

from tests.servers._core import RecordedRequest, Reply, Respond, ScriptedServer

__all__ = [
    "GeminiServer",
    "api_key_invalid",
    "bad_request",
    "blocked_answer",
    "blocked_prompt",
    "context_length_exceeded",
    "empty_body",
    "error_body",
    "no_candidates",
    "not_json",
    "permission_denied",
    "rate_limited",
    "server_error",
]

_MODEL_IN_PATH = re.compile(r"/models/([^/:]+):")


class GeminiServer(ScriptedServer):
    """Fault-injecting ``POST /v1beta/models/<model>:generateContent``."""

    protocol = "gemini"

    @property
    def base_url(self) -> str:
        """What to pass as the adapter's ``base_url`` (the SDKs add ``/v1beta/...``)."""
        return self.origin

    @staticmethod
    def model_of(request: RecordedRequest) -> str | None:
        """The model named in a request's path."""
        match = _MODEL_IN_PATH.search(request.path)
        return match.group(1) if match else None

    def render_reply(self, reply: Reply, request: RecordedRequest) -> object:
        candidate: dict[str, object] = {
            "finishReason": reply.finish_reason or "STOP",
            "index": 0,
        }
        if reply.text:
            candidate["content"] = {"parts": [{"text": reply.text}], "role": "model"}
        doc: dict[str, object] = {
            "candidates": [candidate],
            "modelVersion": reply.model or self.model_of(request) or "unknown",
        }
        if reply.input_tokens is not None or reply.output_tokens is not None:
            prompt, out = reply.input_tokens or 0, reply.output_tokens or 0
            doc["usageMetadata"] = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out,
                "totalTokenCount": prompt + out,
            }
        return doc


def error_body(
    code: int, status: str, message: str, details: list[dict[str, object]] | None = None
) -> object:
    """A Gemini (google.rpc.Status) error document."""
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def rate_limited(retry_delay: str | None = None, retry_after: str | None = None) -> Respond:
    """429 RESOURCE_EXHAUSTED, with an optional ``RetryInfo.retryDelay`` (e.g. ``"2s"``) and/or
    ``Retry-After`` header."""
    details = (
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]
        if retry_delay is not None
        else None
    )
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = error_body(
        429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", details
    )
    return Respond(429, body, headers)


def server_error(status: int = 500) -> Respond:
    """A 5xx (500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED)."""
    names = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
    return Respond(
        status, error_body(status, names.get(status, "UNKNOWN"), "The service is unavailable.")
    )


def api_key_invalid() -> Respond:
    """What Gemini really answers to a wrong key: 400 with ErrorInfo reason API_KEY_INVALID."""
    return Respond(
        400,
        error_body(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        ),
    )


def permission_denied(status: int = 403) -> Respond:
    """403 PERMISSION_DENIED (or 401 UNAUTHENTICATED)."""
    name = "PERMISSION_DENIED" if status == 403 else "UNAUTHENTICATED"
    return Respond(status, error_body(status, name, "The caller does not have permission"))


def bad_request(
    status: int = 400, message: str = "Invalid value at 'generation_config.temperature'"
) -> Respond:
    """A 400/404 that is the request's own fault."""
    name = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(status, "FAILED_PRECONDITION")
    return Respond(status, error_body(status, name, message))


def context_length_exceeded() -> Respond:
    """The 400 Gemini sends when the prompt is longer than the model's input limit."""
    return Respond(
        400,
        error_body(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        ),
    )


def blocked_answer(finish_reason: str = "SAFETY", text: str = "") -> Reply:
    """HTTP 200 whose only candidate stopped for a policy reason (SAFETY, RECITATION, ...)."""
    return Reply(text=text, finish_reason=finish_reason)


def blocked_prompt(block_reason: str = "SAFETY") -> Respond:
    """HTTP 200 with no candidates and ``promptFeedback.blockReason``."""
    return Respond(
        200,
        {
            "promptFeedback": {
                "blockReason": block_reason,
                "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}],
            },
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
            "modelVersion": "gemini-test",
        },
    )


def no_candidates() -> Respond:
    """HTTP 200 with neither candidates nor a block reason."""
    return Respond(200, {"modelVersion": "gemini-test"})


def empty_body() -> Respond:
    """HTTP 200 with no body at all."""
    return Respond(200, b"")


def not_json() -> Respond:
    """HTTP 200 whose body is not JSON."""
    return Respond(200, "<html>proxy error</html>")
