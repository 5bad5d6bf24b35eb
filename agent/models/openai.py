"""An OpenAI-compatible chat model (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server) from configuration.

`ModelSettings` is everything dealdesk needs to know about a real model: which
one, where, with which key, and the limits the resilient wrapper enforces
(per-request timeout, retries, per-conversation budget). `build_chat_openai`
turns it into a LangChain `ChatOpenAI` on the Chat Completions API.

Nothing here reads the environment (that is `agent.models.factory`), and
nothing builds a `ChatOpenAI` without a key: `ChatOpenAI()` raises at
construction when there is none, and the offline path must never get there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

PROVIDERS = ("openai", "openai-compatible", "azure", "vllm", "ollama", "llamacpp", "local")

StructuredMethod = Literal["auto", "json_schema", "function_calling"]
UnderstandMode = Literal["cascade", "model"]


class ModelConfigError(ValueError):
    """The model configuration cannot be used (unknown provider, no key, a bad number)."""

    code = "model_config"


@dataclass(frozen=True)
class ModelSettings:
    """A real model and the limits around it. Times in seconds."""

    model: str = "gpt-4o-mini"
    provider: str = "openai"
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    temperature: float | None = 0.0
    # per HTTP request; retries (tenacity) with exponential backoff and jitter, within a deadline per call.
    # A server turn bounds them all further: every request of the turn ends `model_margin` before its turn
    # timeout (`agent.models.resilient.turn_deadline`, set by `ServerContext.run_turn`).
    timeout: float = 30.0
    attempts: int = 4
    deadline: float = 90.0
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    # per conversation (negotiation thread): model requests and tokens
    budget_calls: int = 60
    budget_tokens: int = 200_000
    # structured output for text understanding: json_schema, function calling, or json_schema with a
    # switch to function calling when the server refuses response_format
    structured: StructuredMethod = "auto"
    # "cascade": the offline parser first, the model when the parser is not sure; "model": always the model
    understand: UnderstandMode = "cascade"
    history_turns: int = 6  # earlier turns sent to the model (buyer message and seller reply each)
    # the most characters of a reply's text (prompts/reply.md asks for four sentences), plus 200 per line of the
    # turn's offer; a longer reply is unusable (the offline model answers). The offline playbook's longest
    # replies: about 750 characters (a 50-product search), 450 + 75 per line for an offer.
    max_reply_chars: int = 2000
    # circuit breaker (agent/models/breaker.py): after this many calls in a row gave up on an outage (timeouts,
    # connection errors, 5xx, 429), calls are answered offline with no request for `breaker_cooldown` seconds,
    # then one call tries the model again; 0 turns the breaker off
    breaker_failures: int = 3
    breaker_cooldown: float = 30.0
    source: str = "defaults"  # where the settings came from (for `dealdesk doctor`)

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    def with_(self, **changes: Any) -> ModelSettings:
        return replace(self, **changes)

    def check(self) -> ModelSettings:
        if self.provider not in PROVIDERS:
            raise ModelConfigError(f"unknown model provider {self.provider!r} (one of {', '.join(PROVIDERS)}; "
                                   "every one of them is spoken to through the OpenAI-compatible API)")
        if not self.model:
            raise ModelConfigError("no model name (DEALDESK_MODEL=openai:gpt-4o-mini, for example)")
        for name, (must, ok) in SETTING_LIMITS.items():
            if not ok(getattr(self, name)):
                raise ModelConfigError(f"{name}={getattr(self, name)!r}: must be {must}")
        return self


# settings field -> (what it must be, the test): `ModelSettings.check`, and the configuration's own messages
# (agent/models/factory.py names the variable or the file's key a value came from)
SETTING_LIMITS: dict[str, tuple[str, Any]] = {
    "timeout": ("greater than 0", lambda v: v > 0),
    "deadline": ("greater than 0", lambda v: v > 0),
    "backoff_max": ("greater than 0", lambda v: v > 0),
    "backoff_initial": ("0 or more", lambda v: v >= 0),
    "max_reply_chars": ("at least 1", lambda v: v >= 1),
    "attempts": ("at least 1", lambda v: v >= 1),
    "breaker_failures": ("0 or more", lambda v: v >= 0),
    "breaker_cooldown": ("greater than 0", lambda v: v > 0),
    "budget_calls": ("0 or more", lambda v: v >= 0),
    "budget_tokens": ("0 or more", lambda v: v >= 0),
    "temperature": ("0 or more", lambda v: v is None or v >= 0),
    "structured": ("auto, json_schema or function_calling", lambda v: v in ("auto", "json_schema", "function_calling")),
    "understand": ("cascade or model", lambda v: v in ("cascade", "model")),
}


def build_chat_openai(settings: ModelSettings, *, http_client: Any = None, http_async_client: Any = None) -> Any:
    """A `ChatOpenAI` on the Chat Completions API; its own retries are off (the wrapper retries with tenacity).

    `http_client` / `http_async_client` (httpx clients) are passed through, for tests and proxies.
    """
    settings.check()
    if not settings.api_key:
        raise ModelConfigError("no API key: set OPENAI_API_KEY (any non-empty value for a local server that "
                               "needs none); without one dealdesk uses the offline model")
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {
        "model": settings.model,
        "api_key": settings.api_key,
        "base_url": settings.base_url or None,
        "timeout": settings.timeout,
        "max_retries": 0,
        "use_responses_api": False,
    }
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if http_client is not None:
        kwargs["http_client"] = http_client
    if http_async_client is not None:
        kwargs["http_async_client"] = http_async_client
    return ChatOpenAI(**kwargs)
