"""`dealdesk doctor`: which model is in use, whether it answers, whether it supports tool calls and structured output.

Three small requests to the configured model (no retries, the configured timeout):
a plain answer, a forced tool call, and `json_schema` structured output, read as the
understanding reads it. The doctor says what run time will do: with
`DEALDESK_STRUCTURED_OUTPUT=auto`, a server that refuses json_schema (bad_request) or
answers it with text that is not JSON is switched to function calling, which works
when the tool call does; any other failure is a failure (run time falls back to the
offline parser). With `function_calling` configured, json_schema is not asked.
A failed request says what the endpoint did (HTTP status and message, an answer
without choices, a body that is not a chat completion). With no key it reports the
offline model and why; a configuration that cannot be used is one line naming it.
Exit code 0 when the model in use can serve the seller (offline, or answers with
tool calls and structured output as run time will ask for it), 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True)

_PING = {"type": "function", "function": {
    "name": "ping", "description": "Answer a health check.",
    "parameters": {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"],
                   "additionalProperties": False}}}
_SCHEMA = {"type": "json_schema", "json_schema": {
    "name": "doctor_check", "strict": True,
    "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
               "additionalProperties": False}}}


def _server_message(exc: Any) -> str:
    """The message of an HTTP error from the server, without the client's `Error code: NNN - ` prefix."""
    import re

    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:200]
    return re.sub(r"^Error code: \d+ - ", "", str(exc))[:200]


def describe(exc: BaseException) -> str:
    """What the endpoint did, in a line: the typed reason first (as the resilient model classifies it), then plainly."""
    import openai

    from agent.models.resilient import bad_response, classify

    reason = classify(exc)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 404:
            return (f"not_found: HTTP 404 from the server: {_server_message(exc)} (check the model name in "
                    "DEALDESK_MODEL and the server in OPENAI_BASE_URL)")
        return f"{reason}: HTTP {status} from the server: {_server_message(exc)}"
    if reason != "error":
        return f"{reason}: {str(exc)[:200]}"
    text = str(exc)
    if isinstance(exc, IndexError):  # langchain reads choices[0] of a completion that has none
        return "bad_response: HTTP 200 with no answer in it (an empty `choices` list)"
    if isinstance(exc, json.JSONDecodeError):
        return f"bad_response: HTTP 200 but the body is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if "Unexpected response type" in text or "object has no attribute 'choices'" in text:
        body = text.partition("got str: ")[2]
        return ("bad_response: HTTP 200 but the body is not a chat completion (an HTML page from a proxy, perhaps)"
                + (f": {body[:80]}" if body else ""))
    if bad_response(exc):  # null choices, a null message, an error object in a 200: as the model's fallback names it
        return "bad_response: HTTP 200 but the body is not a chat completion (null choices or message, or an error)"
    return f"error: {type(exc).__name__}: {text[:200]}"


def _check(name: str, fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # noqa: BLE001 - each failure is reported, typed, and the next check runs
        ok, detail = False, describe(exc)
    return {"check": name, "ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000)}


# Why json_schema failed -> what run time does about it (`ResilientModel._structured`, structured output "auto")
_SWITCHED_ON = {"bad_request": "json_schema refused", "invalid_json": "json_schema answered with text that is not JSON"}


def diagnose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The doctor's findings as data (what `--json` prints)."""
    from langchain_core.messages import HumanMessage

    from agent.models.factory import make_model, model_settings, why_offline
    from agent.models.offline import OfflineModel
    from agent.models.openai import ModelConfigError
    from agent.models.resilient import IntentError, classify, parse_intent_json

    try:
        settings = model_settings(env)
    except ModelConfigError as exc:  # a bad value, an unknown key, a config file that cannot be read or parsed
        return {"model": None, "kind": "error", "ok": False, "reason": str(exc), "checks": []}
    if settings is None:
        model = OfflineModel()
        answer = _check("answers", lambda: (bool(model.invoke([HumanMessage("hello")]).content), "playbook reply"))
        return {"model": "dealdesk-offline", "kind": "offline", "reason": why_offline(env), "ok": answer["ok"],
                "checks": [answer, {"check": "tool calls", "ok": True, "detail": "the playbook calls the typed tools",
                                    "ms": 0},
                           {"check": "structured output", "ok": True, "detail": "the offline parser (BuyerIntent)",
                            "ms": 0}]}
    model = make_model(settings.with_(attempts=1))
    inner = model.inner

    def answers() -> tuple[bool, str]:
        reply = inner.invoke([HumanMessage("Reply with the single word OK.")])
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        return bool(text.strip()), f"{text.strip()[:40]!r}"

    def tools() -> tuple[bool, str]:
        reply = inner.bind_tools([_PING], tool_choice="ping").invoke(
            [HumanMessage("Call the ping tool with the value 'dealdesk'.")])
        calls = [c["name"] for c in reply.tool_calls]
        return calls == ["ping"], f"tool calls: {calls or 'none'}"

    failed: dict[str, str] = {}  # why json_schema failed, as run time would classify it

    def structured() -> tuple[bool, str]:
        try:
            reply = inner.bind(response_format=_SCHEMA).invoke(
                [HumanMessage("Is this a health check? Answer as JSON.")])
        except Exception as exc:  # noqa: BLE001 - noted, then reported by _check
            failed["reason"] = classify(exc)
            raise
        refusal = (reply.additional_kwargs or {}).get("refusal")
        if refusal:
            failed["reason"] = "refusal"
            return False, f"refusal: {str(refusal)[:120]}"
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        try:
            data = parse_intent_json(text)  # as the understanding reads it (a ```json fence is tolerated)
        except IntentError as exc:
            failed["reason"] = exc.code
            return False, f"{exc.code}: {text.strip()[:60]!r}"
        if isinstance(data, dict) and isinstance(data.get("ok"), bool):
            return True, "json_schema"
        failed["reason"] = "invalid_intent"
        return False, f"invalid_intent: JSON without the schema's fields: {text.strip()[:60]!r}"

    checks = [_check("answers", answers), _check("tool calls", tools)]
    if settings.structured == "function_calling":  # run time never asks for json_schema
        checks.append({**checks[1], "check": "structured output",
                       "detail": "function calling (DEALDESK_STRUCTURED_OUTPUT)" if checks[1]["ok"]
                       else f"function calling (DEALDESK_STRUCTURED_OUTPUT): {checks[1]['detail']}", "ms": 0})
    else:
        checks.append(_check("structured output", structured))
        why = _SWITCHED_ON.get(failed.get("reason", ""))
        if not checks[2]["ok"] and why and settings.structured == "auto" and checks[1]["ok"]:
            # run time switches to function calling here (ResilientModel._structured), which the tool call shows working
            checks[2] = {**checks[2], "ok": True, "detail": f"function calling ({why}: {checks[2]['detail'][:160]})"}
    return {"model": settings.name, "kind": "openai-compatible", "base_url": settings.base_url or "https://api.openai.com/v1",
            "source": settings.source, "api_key": "set", "understanding": settings.understand,
            "structured_output": settings.structured,
            "limits": {"timeout_s": settings.timeout, "attempts": settings.attempts,
                       "budget_calls": settings.budget_calls, "budget_tokens": settings.budget_tokens},
            "ok": all(c["ok"] for c in checks), "checks": checks}


def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False) -> None:
    """Which model is in use, whether it answers, and whether it supports tool calls and structured output."""
    found = diagnose()
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
    else:
        # The model's name, URL, settings and answers are data: escaped, so rich reads no bracket of them as a style.
        head = f"model: [bold]{escape(str(found['model']))}[/bold] ({escape(str(found['kind']))})"
        if found.get("base_url"):
            head += escape(f" at {found['base_url']}, key {found['api_key']}, from {found['source']}")
        out.print(head, highlight=False)
        if found.get("reason"):
            out.print(f"  {found['reason']}", highlight=False, markup=False)
        if found.get("limits"):
            lim = found["limits"]
            out.print(f"  understanding {found['understanding']}, structured output {found['structured_output']}, "
                      f"timeout {lim['timeout_s']} s, {lim['attempts']} attempts, budget {lim['budget_calls']} calls / "
                      f"{lim['budget_tokens']} tokens per negotiation", highlight=False, markup=False)
        if found["checks"]:  # none when the configuration cannot be used: the reason above says why
            table = Table("check", "result", "detail", "ms")
            for c in found["checks"]:
                result = "[green]ok[/green]" if c["ok"] else "[red]failed[/red]"
                table.add_row(escape(str(c["check"])), result, escape(str(c["detail"])), str(c["ms"]))
            out.print(table)
    raise typer.Exit(0 if found["ok"] else 1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
