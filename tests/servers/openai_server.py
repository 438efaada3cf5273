"""A local server speaking the OpenAI chat-completions protocol, with injected faults.

Point the real openai SDK at ``server.base_url`` (``http://127.0.0.1:<port>/v1``). Success
bodies and error bodies have the shape api.openai.com sends, including the ``error.code``
values the adapter classifies by (``context_length_exceeded``, ``content_policy_violation``,
``rate_limit_exceeded``).
"""

from __future__ import annotations

import itertools
import time

from tests.servers._core import RecordedRequest, Reply, Respond, ScriptedServer

__all__ = [
    "OpenAIServer",
    "auth_failed",
    "bad_request",
    "content_filtered_reply",
    "content_policy_violation",
    "context_length_exceeded",
    "empty_body",
    "error_body",
    "no_choices",
    "not_json",
    "rate_limited",
    "server_error",
]

_ids = itertools.count(1)


class OpenAIServer(ScriptedServer):
    """Fault-injecting ``POST /v1/chat/completions``."""

    protocol = "openai"

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's / adapter's ``base_url``."""
        return f"{self.origin}/v1"

    def render_reply(self, reply: Reply, request: RecordedRequest) -> object:
        sent = request.json() if request.body else {}
        usage: dict[str, int] | None = None
        if reply.input_tokens is not None or reply.output_tokens is not None:
            prompt, completion = reply.input_tokens or 0, reply.output_tokens or 0
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or sent.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None},
                    "finish_reason": reply.finish_reason or "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
            "system_fingerprint": "fp_local",
        }


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> object:
    """An OpenAI error document."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def rate_limited(
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    code: str = "rate_limit_exceeded",
) -> Respond:
    """HTTP 429, optionally with ``Retry-After`` (seconds or HTTP-date) / ``retry-after-ms``."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    body = error_body("Rate limit reached for requests", "requests", code)
    return Respond(429, body, headers)


def server_error(status: int = 500) -> Respond:
    """A 5xx with OpenAI's server-error document."""
    return Respond(status, error_body("The server had an error", "server_error", None))


def auth_failed(status: int = 401) -> Respond:
    """401 (bad key) or 403 (not allowed)."""
    return Respond(
        status,
        error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    )


def bad_request(status: int = 400, message: str = "Invalid value for 'temperature'.") -> Respond:
    """A 400/404/422 that is the request's own fault."""
    return Respond(status, error_body(message, "invalid_request_error", None, "temperature"))


def context_length_exceeded() -> Respond:
    """The 400 OpenAI sends when the prompt does not fit the model."""
    return Respond(
        400,
        error_body(
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 200000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
    )


def content_policy_violation() -> Respond:
    """The 400 OpenAI sends when its safety system rejects the prompt."""
    return Respond(
        400,
        error_body(
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
    )


def content_filtered_reply(text: str = "") -> Reply:
    """A 200 whose choice stopped with ``finish_reason: content_filter``."""
    return Reply(text=text, finish_reason="content_filter")


def no_choices() -> Respond:
    """A 200 chat.completion with an empty ``choices`` list."""
    return Respond(
        200,
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [],
        },
    )


def empty_body() -> Respond:
    """A 200 with no body at all."""
    return Respond(200, b"")


def not_json() -> Respond:
    """A 200 whose body is not JSON (a proxy's HTML page)."""
    return Respond(200, "<html>upstream says hi</html>", content_type="application/json")
