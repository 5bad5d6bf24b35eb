"""Which chat model dealdesk uses: the offline model unless a real one is configured with a key.

Configuration, environment first, then the config file named by `DEALDESK_CONFIG`
(TOML or YAML, either the same variable names at the top level or a `[model]`
table with the short names below):

| environment | `[model]` key | meaning | default |
|---|---|---|---|
| `DEALDESK_MODEL` | `name` | `provider:model`, e.g. `openai:gpt-4o-mini`; `offline` for the offline model | offline |
| `OPENAI_API_KEY` | `api_key` | the key; none means the offline model | |
| `OPENAI_BASE_URL` | `base_url` | any OpenAI-compatible server (`http://localhost:11434/v1` for Ollama) | OpenAI |
| `DEALDESK_MODEL_TIMEOUT` | `timeout` | seconds per request | 30 |
| `DEALDESK_MODEL_ATTEMPTS` | `attempts` | tries per call (timeouts, 429, 5xx) | 4 |
| `DEALDESK_MODEL_BUDGET_CALLS` | `budget_calls` | model requests per negotiation | 60 |
| `DEALDESK_MODEL_BUDGET_TOKENS` | `budget_tokens` | tokens per negotiation | 200000 |
| `DEALDESK_STRUCTURED_OUTPUT` | `structured_output` | `auto`, `json_schema` or `function_calling` | auto |
| `DEALDESK_UNDERSTAND` | `understand` | `cascade` (parser first) or `model` (always the model) | cascade |

`make_model()` never builds a `ChatOpenAI` without a key: no key, the offline model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.models.offline import OfflineModel
from agent.models.openai import ModelConfigError, ModelSettings, build_chat_openai

OFFLINE_NAMES = ("", "offline", "dealdesk-offline", "none")

# environment name -> (settings field, [model] table key, converter)
_FIELDS: dict[str, tuple[str, str, Any]] = {
    "OPENAI_API_KEY": ("api_key", "api_key", str),
    "OPENAI_BASE_URL": ("base_url", "base_url", str),
    "DEALDESK_MODEL_TIMEOUT": ("timeout", "timeout", float),
    "DEALDESK_MODEL_DEADLINE": ("deadline", "deadline", float),
    "DEALDESK_MODEL_ATTEMPTS": ("attempts", "attempts", int),
    "DEALDESK_MODEL_BUDGET_CALLS": ("budget_calls", "budget_calls", int),
    "DEALDESK_MODEL_BUDGET_TOKENS": ("budget_tokens", "budget_tokens", int),
    "DEALDESK_STRUCTURED_OUTPUT": ("structured", "structured_output", str),
    "DEALDESK_UNDERSTAND": ("understand", "understand", str),
    "DEALDESK_MODEL_TEMPERATURE": ("temperature", "temperature", float),
}


def parse_model_name(name: str) -> tuple[str, str] | None:
    """`openai:gpt-4o-mini` -> ("openai", "gpt-4o-mini"); a bare name is an OpenAI model; offline -> None."""
    name = (name or "").strip()
    if name.casefold() in OFFLINE_NAMES:
        return None
    provider, sep, model = name.partition(":")
    if not sep:
        return "openai", name
    return provider.strip().casefold(), model.strip()


def read_config_file(path: str | Path) -> dict[str, str]:
    """The config file as environment-style names (TOML or YAML; `[model]` keys mapped to the names)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".toml", ".tml"):
        import tomllib

        doc = tomllib.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise ModelConfigError(f"{path}: expected a table of settings")
    out = {k: str(v) for k, v in doc.items() if isinstance(k, str) and k.isupper() and v is not None}
    table = doc.get("model")
    if isinstance(table, dict):
        if table.get("name") is not None:
            out["DEALDESK_MODEL"] = str(table["name"])
        for env, (_, key, _) in _FIELDS.items():
            if table.get(key) is not None:
                out[env] = str(table[key])
    return out


def model_settings(env: Mapping[str, str] | None = None) -> ModelSettings | None:
    """The configured real model, or None for the offline model (nothing configured, `offline`, or no key)."""
    env = os.environ if env is None else env
    merged: dict[str, str] = {}
    source = "environment"
    config = env.get("DEALDESK_CONFIG")
    if config:
        merged.update(read_config_file(config))
        source = f"config file {config}"
    merged.update({k: v for k, v in env.items() if k in _FIELDS or k == "DEALDESK_MODEL"})
    parsed = parse_model_name(merged.get("DEALDESK_MODEL", ""))
    if parsed is None:
        return None
    provider, model = parsed
    values: dict[str, Any] = {"provider": provider, "model": model, "source": source}
    for name, (fld, _, conv) in _FIELDS.items():
        raw = merged.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[fld] = conv(raw)
        except ValueError:
            raise ModelConfigError(f"{name}={raw!r} is not a {conv.__name__}") from None
    settings = ModelSettings(**values).check()
    return settings if settings.api_key else None


def why_offline(env: Mapping[str, str] | None = None) -> str:
    """One line on why the offline model is in use (for `dealdesk doctor`)."""
    env = os.environ if env is None else env
    try:
        merged = dict(read_config_file(env["DEALDESK_CONFIG"])) if env.get("DEALDESK_CONFIG") else {}
    except (OSError, ModelConfigError) as exc:
        return f"the config file cannot be read: {exc}"
    merged.update({k: v for k, v in env.items() if k in ("DEALDESK_MODEL", "OPENAI_API_KEY")})
    if parse_model_name(merged.get("DEALDESK_MODEL", "")) is None:
        return "no model configured (DEALDESK_MODEL is unset or offline)"
    if not merged.get("OPENAI_API_KEY"):
        return f"DEALDESK_MODEL={merged['DEALDESK_MODEL']} but no OPENAI_API_KEY"
    return "configured"


def make_model(config: ModelSettings | Mapping[str, str] | None = None, *, http_client: Any = None,
               http_async_client: Any = None) -> BaseChatModel:
    """The chat model the seller uses: a `ResilientModel` around `ChatOpenAI` when a key is configured,
    else the `OfflineModel`. `config`: settings, an environment-like mapping, or None for `os.environ`."""
    settings = config if isinstance(config, ModelSettings) else model_settings(config)
    if settings is None or not settings.api_key:
        return OfflineModel()
    from agent.models.resilient import ResilientModel

    inner = build_chat_openai(settings, http_client=http_client, http_async_client=http_async_client)
    return ResilientModel(inner=inner, settings=settings)


def model_name(model: BaseChatModel) -> str:
    """What decision records call the model (`gen_ai.request.model`)."""
    settings = getattr(model, "settings", None)
    if isinstance(settings, ModelSettings):
        return settings.name
    return getattr(model, "model_name", None) or type(model).__name__
