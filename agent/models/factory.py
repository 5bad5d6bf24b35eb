"""Which chat model dealdesk uses: the offline model unless a real one is configured with a key.

Configuration, environment first, then the config file named by `DEALDESK_CONFIG`
(TOML or YAML, either the same variable names at the top level or a `[model]`
table with the short names below). An empty environment variable (`OPENAI_API_KEY=`)
counts as unset: it does not override the file.

| environment | `[model]` key | meaning | default |
|---|---|---|---|
| `DEALDESK_MODEL` | `name` | `provider:model`, e.g. `openai:gpt-4o-mini`; `offline` for the offline model | offline |
| `OPENAI_API_KEY` | `api_key` | the key; none means the offline model | |
| `OPENAI_BASE_URL` | `base_url` | any OpenAI-compatible server (`http://localhost:11434/v1` for Ollama) | OpenAI |
| `DEALDESK_MODEL_TIMEOUT` | `timeout` | seconds per request | 30 |
| `DEALDESK_MODEL_DEADLINE` | `deadline` | seconds per call, its retries included | 90 |
| `DEALDESK_MODEL_ATTEMPTS` | `attempts` | tries per call (timeouts, 429, 5xx) | 4 |
| `DEALDESK_MODEL_BUDGET_CALLS` | `budget_calls` | model requests per negotiation | 60 |
| `DEALDESK_MODEL_BUDGET_TOKENS` | `budget_tokens` | tokens per negotiation | 200000 |
| `DEALDESK_STRUCTURED_OUTPUT` | `structured_output` | `auto`, `json_schema` or `function_calling` | auto |
| `DEALDESK_UNDERSTAND` | `understand` | `cascade` (parser first) or `model` (always the model) | cascade |
| `DEALDESK_MODEL_TEMPERATURE` | `temperature` | sampling temperature | 0 |
| `DEALDESK_MODEL_MAX_REPLY_CHARS` | `max_reply_chars` | longest usable reply, plus 200 a line of the offer | 2000 |
| `DEALDESK_MODEL_BREAKER_FAILURES` | `breaker_failures` | outages in a row before the model is skipped (0: never) | 3 |
| `DEALDESK_MODEL_BREAKER_COOLDOWN` | `breaker_cooldown` | seconds it is skipped, then tried again | 30 |

A problem is a `ModelConfigError` naming where the value came from (the environment
variable, or the key and the file), and for a file that does not parse, the line and column.
`make_model()` never builds a `ChatOpenAI` without a key: no key, the offline model.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.models.offline import OfflineModel
from agent.models.openai import PROVIDERS, SETTING_LIMITS, ModelConfigError, ModelSettings, build_chat_openai

OFFLINE_NAMES = ("", "offline", "dealdesk-offline", "none")


def _whole(raw: str) -> int:
    return int(raw.strip())


def _number(raw: str) -> float:
    value = float(raw.strip())
    if not math.isfinite(value):  # inf and nan parse as floats
        raise ValueError(raw)
    return value


_KINDS = {_whole: "a whole number", _number: "a finite number"}

# environment name -> (settings field, [model] table key, converter)
_FIELDS: dict[str, tuple[str, str, Any]] = {
    "OPENAI_API_KEY": ("api_key", "api_key", str),
    "OPENAI_BASE_URL": ("base_url", "base_url", str),
    "DEALDESK_MODEL_TIMEOUT": ("timeout", "timeout", _number),
    "DEALDESK_MODEL_DEADLINE": ("deadline", "deadline", _number),
    "DEALDESK_MODEL_ATTEMPTS": ("attempts", "attempts", _whole),
    "DEALDESK_MODEL_BUDGET_CALLS": ("budget_calls", "budget_calls", _whole),
    "DEALDESK_MODEL_BUDGET_TOKENS": ("budget_tokens", "budget_tokens", _whole),
    "DEALDESK_STRUCTURED_OUTPUT": ("structured", "structured_output", str),
    "DEALDESK_UNDERSTAND": ("understand", "understand", str),
    "DEALDESK_MODEL_TEMPERATURE": ("temperature", "temperature", _number),
    "DEALDESK_MODEL_MAX_REPLY_CHARS": ("max_reply_chars", "max_reply_chars", _whole),
    "DEALDESK_MODEL_BREAKER_FAILURES": ("breaker_failures", "breaker_failures", _whole),
    "DEALDESK_MODEL_BREAKER_COOLDOWN": ("breaker_cooldown", "breaker_cooldown", _number),
}
_NAMES = ("DEALDESK_MODEL", *_FIELDS)  # every variable the model configuration reads
_TABLE_KEYS = {"name": "DEALDESK_MODEL", **{key: env for env, (_, key, _) in _FIELDS.items()}}



def parse_model_name(name: str) -> tuple[str, str] | None:
    """`openai:gpt-4o-mini` -> ("openai", "gpt-4o-mini"); a bare name is an OpenAI model; offline -> None."""
    name = (name or "").strip()
    if name.casefold() in OFFLINE_NAMES:
        return None
    provider, sep, model = name.partition(":")
    if not sep:
        return "openai", name
    return provider.strip().casefold(), model.strip()


def _parse_error(path: Path, exc: Exception) -> ModelConfigError:
    """A config file that does not parse: the file, the line and column when the parser gives them, the problem."""
    problem = getattr(exc, "problem", None)  # YAML: a 0-based mark
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return ModelConfigError(f"config file {path}: line {mark.line + 1}, column {mark.column + 1}: {problem}")
    text = str(exc).strip().replace("\n", " ")
    at = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text)  # TOML
    if at:
        return ModelConfigError(f"config file {path}: line {at.group(1)}, column {at.group(2)}: {text[:at.start()]}")
    return ModelConfigError(f"config file {path} does not parse: {text[:300]}")


def _config_entries(path: str | Path) -> dict[str, tuple[str, str]]:
    """The config file as {environment-style name: (value, where it is)}; raises ModelConfigError naming the file.

    `where` is how a message names the value: `timeout in [model] of config file dealdesk.toml`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ModelConfigError(f"config file {path} (DEALDESK_CONFIG) cannot be read: {reason}") from None
    if path.suffix in (".toml", ".tml"):
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _parse_error(path, exc) from None
    else:
        import yaml

        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise _parse_error(path, exc) from None
    if not isinstance(doc, dict):
        raise ModelConfigError(f"config file {path}: expected a table of settings")
    out: dict[str, tuple[str, str]] = {}
    for key, value in doc.items():
        if key == "model":
            continue
        if key not in _NAMES:
            raise ModelConfigError(f"config file {path}: unknown setting {str(key)!r} (a [model] table, or at the "
                                   f"top level: {', '.join(_NAMES)})")
        if value is not None:
            out[key] = (str(value), f"{key} in config file {path}")
    table = doc.get("model")
    if table is not None and not isinstance(table, dict):
        raise ModelConfigError(f"config file {path}: model must be a table of settings ({', '.join(_TABLE_KEYS)})")
    for key, value in (table or {}).items():
        env = _TABLE_KEYS.get(key) if isinstance(key, str) else None
        if env is None:
            raise ModelConfigError(f"config file {path}: unknown key {str(key)!r} in [model] "
                                   f"(known keys: {', '.join(_TABLE_KEYS)})")
        if value is not None:
            out[env] = (str(value), f"{key} in [model] of config file {path}")
    return out


def read_config_file(path: str | Path) -> dict[str, str]:
    """The config file as environment-style names (TOML or YAML; `[model]` keys mapped to the names).

    A file that cannot be read or parsed, or that holds an unknown key, raises `ModelConfigError` naming it."""
    return {name: value for name, (value, _) in _config_entries(path).items()}


def _merged(env: Mapping[str, str]) -> tuple[dict[str, tuple[str, str]], str]:
    """Every setting as (value, where it came from): the config file's, then the environment's non-empty values."""
    merged: dict[str, tuple[str, str]] = {}
    source = "environment"
    config = env.get("DEALDESK_CONFIG")
    if config:
        merged.update(_config_entries(config))
        source = f"config file {config}"
    for name in _NAMES:
        value = env.get(name)
        if value is not None and value.strip():  # an empty variable is unset: it does not hide the file's value
            merged[name] = (value, name)
    return merged, source


def _named(raw: str, where: str) -> str:
    """`DEALDESK_MODEL_TIMEOUT='5s'` (the environment) or `timeout='5s' in [model] of config file x.yaml`."""
    name, _, rest = where.partition(" in ")
    return f"{name}={raw!r}" + (f" in {rest}" if rest else "")


def model_settings(env: Mapping[str, str] | None = None) -> ModelSettings | None:
    """The configured real model, or None for the offline model (nothing configured, `offline`, or no key).

    Raises `ModelConfigError` naming the setting and where it came from (the variable, or the file and key)."""
    env = os.environ if env is None else env
    merged, source = _merged(env)
    name, name_from = merged.get("DEALDESK_MODEL", ("", "DEALDESK_MODEL"))
    parsed = parse_model_name(name)
    if parsed is None:
        return None
    provider, model = parsed
    if provider not in PROVIDERS:
        raise ModelConfigError(f"{_named(name, name_from)}: unknown model provider {provider!r}; DEALDESK_MODEL is "
                               f"provider:model with the provider one of {', '.join(PROVIDERS)} (each spoken to "
                               "through the OpenAI-compatible API)")
    if not model:
        raise ModelConfigError(f"{_named(name, name_from)}: no model name after the provider "
                               "(DEALDESK_MODEL=openai:gpt-4o-mini, for example)")
    values: dict[str, Any] = {"provider": provider, "model": model, "source": source}
    for env_name, (fld, _, conv) in _FIELDS.items():
        raw, where = merged.get(env_name, ("", env_name))
        if not raw.strip():
            continue
        if conv is str:
            value: Any = raw if fld == "api_key" else raw.strip()
        else:
            try:
                value = conv(raw)
            except ValueError:
                raise ModelConfigError(f"{_named(raw, where)}: not {_KINDS[conv]}") from None
        limit = SETTING_LIMITS.get(fld)
        if limit is not None and not limit[1](value):
            raise ModelConfigError(f"{_named(raw, where)}: must be {limit[0]}")
        values[fld] = value
    settings = ModelSettings(**values).check()
    return settings if settings.api_key else None


def why_offline(env: Mapping[str, str] | None = None) -> str:
    """One line on why the offline model is in use (for `dealdesk doctor`)."""
    env = os.environ if env is None else env
    try:
        merged = {name: value for name, (value, _) in _merged(env)[0].items()}
    except ModelConfigError as exc:
        return f"the configuration cannot be used: {exc}"
    if parse_model_name(merged.get("DEALDESK_MODEL", "")) is None:
        return "no model configured (DEALDESK_MODEL is unset or offline)"
    if not merged.get("OPENAI_API_KEY", "").strip():
        return f"DEALDESK_MODEL={merged['DEALDESK_MODEL']} but no OPENAI_API_KEY"
    return "configured"


def make_model(config: ModelSettings | Mapping[str, str] | None = None, *, http_client: Any = None,
               http_async_client: Any = None) -> BaseChatModel:
    """The chat model the seller uses: a `ResilientModel` around `ChatOpenAI` when a key is configured,
    else the `OfflineModel`. `config`: settings, an environment-like mapping, or None for `os.environ`.
    Raises `ModelConfigError` (one line, naming the setting and where it came from) on a bad configuration."""
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
