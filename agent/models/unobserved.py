"""Whether anything observes a LangChain run: the offline model's shortcut past the run bookkeeping.

`BaseChatModel.invoke` and `RunnableLambda.invoke` spend most of an offline call on bookkeeping
for callback handlers (the run manager, serialized model, tracing copies of the prompt, a
signature inspection per call). With no handler at all, none of it is seen by anyone. Which
handlers a run gets is decided by `CallbackManager.configure` itself, so this module asks it
rather than restating its rules (config callbacks, which inside a LangGraph node are the node's
run manager; the runnable's own callbacks; verbose and debug; LangSmith tracing; registered
configure hooks).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManager
from langchain_core.runnables import RunnableConfig, ensure_config


def unobserved(config: RunnableConfig | None, callbacks: Any = None, verbose: bool = False) -> RunnableConfig | None:
    """`config` ensured (as `invoke` ensures it) when no callback handler would see a run under it, else
    None. `callbacks` and `verbose`: the runnable's own, as `BaseChatModel.generate` passes them."""
    config = ensure_config(config)
    manager = CallbackManager.configure(config.get("callbacks"), callbacks, verbose)
    if manager.handlers or manager.inheritable_handlers:
        return None
    return config
