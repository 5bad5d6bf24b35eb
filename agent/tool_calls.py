"""The graph's tools node: the agent's tool calls, run in order on the calling thread.

It does what LangGraph's prebuilt `ToolNode(handle_tool_errors=True)` does for
dealdesk's tools: the graph state is injected into each tool's `InjectedState`
argument, and every failure (an unknown tool, arguments that do not validate,
an exception inside a tool) comes back to the model as a ToolMessage with
status "error" instead of ending the turn. The prebuilt node starts a thread
pool for every run; dealdesk's tools are fast in-process functions, so that
pool cost more than the tools (measured in BENCHMARKS.md, "Seller turn").

The tools' functions are called directly, their arguments validated with
the tool's `args_schema` as `BaseTool.run` validates them: `run`'s callback
manager, signature inspection and dump of the validated arguments (the whole
graph state included) cost several times what the tools take, and nothing in
dealdesk listens to tool callbacks (the decision records are its trace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import StructuredTool


class ToolCalls:
    """A graph node over structured tools that return (content, artifact) and take the state as `state`."""

    def __init__(self, tools: Sequence[StructuredTool]):
        self.tools = {t.name: t for t in tools}

    def __call__(self, state: dict[str, Any]) -> dict[str, Any]:
        last = state["messages"][-1] if state.get("messages") else None
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        return {"messages": [self.run(call, state) for call in calls]}

    def run(self, call: dict[str, Any], state: dict[str, Any]) -> ToolMessage:
        name, call_id = call["name"], call["id"]
        tool = self.tools.get(name)
        if tool is None:
            return _error(name, call_id, f"Error: {name!r} is not a valid tool, try one of "
                                         f"[{', '.join(self.tools)}].")
        # The model never supplies the state: whatever it put under that name is replaced.
        args = {**(call.get("args") or {}), "state": state}
        try:
            content, artifact = tool.func(**_arguments(tool, args))
        except Exception as exc:  # noqa: BLE001 - every tool failure is the model's to read, not the turn's end
            return _error(name, call_id, f"Error: {exc!r}\n Please fix your mistakes.")
        return ToolMessage(content=content, artifact=artifact, name=name, tool_call_id=call_id)


def _arguments(tool: StructuredTool, args: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments `BaseTool.run` would pass: every schema field as validated (defaults
    included, unknown keys dropped), and the state itself rather than its validated copy."""
    parsed = tool.args_schema.model_validate(args)  # type: ignore[union-attr]
    return {**{k: getattr(parsed, k) for k in type(parsed).model_fields}, "state": args["state"]}


def _error(name: str, call_id: str, content: str) -> ToolMessage:
    return ToolMessage(content=content, name=name, tool_call_id=call_id, status="error")
