"""`dealdesk doctor`: which model is in use, whether it answers, whether it supports tool calls and structured output.

Three small requests to the configured model (no retries, the configured timeout):
a plain answer, a forced tool call, and `json_schema` structured output (when the
server refuses it, the understanding falls back to function calling, and the
doctor says so). With no key it reports the offline model and why.
Exit code 0 when the model in use can serve the seller (offline, or answers with
tool calls and one of the two structured-output methods), 1 otherwise.
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


def _check(name: str, fn: Any) -> dict[str, Any]:
    from agent.models.resilient import classify

    started = time.perf_counter()
    try:
        ok, detail = fn()
    except Exception as exc:  # noqa: BLE001 - each failure is reported, typed, and the next check runs
        ok, detail = False, f"{classify(exc)}: {str(exc)[:200]}"
    return {"check": name, "ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000)}


def diagnose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The doctor's findings as data (what `--json` prints)."""
    from langchain_core.messages import HumanMessage

    from agent.models.factory import make_model, model_settings, why_offline
    from agent.models.offline import OfflineModel
    from agent.models.openai import ModelConfigError

    try:
        settings = model_settings(env)
    except (ModelConfigError, OSError) as exc:
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

    def structured() -> tuple[bool, str]:
        reply = inner.bind(response_format=_SCHEMA).invoke([HumanMessage("Is this a health check? Answer as JSON.")])
        data = json.loads(reply.content)
        return isinstance(data, dict) and isinstance(data.get("ok"), bool), "json_schema"

    checks = [_check("answers", answers), _check("tool calls", tools), _check("structured output", structured)]
    if not checks[2]["ok"] and checks[1]["ok"] and settings.structured != "json_schema":
        checks[2] = {**checks[2], "ok": True,
                     "detail": f"function calling (json_schema refused: {checks[2]['detail'][:120]})"}
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
        table = Table("check", "result", "detail", "ms")
        for c in found["checks"]:
            result = "[green]ok[/green]" if c["ok"] else "[red]failed[/red]"
            table.add_row(escape(str(c["check"])), result, escape(str(c["detail"])), str(c["ms"]))
        out.print(table)
    raise typer.Exit(0 if found["ok"] else 1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
