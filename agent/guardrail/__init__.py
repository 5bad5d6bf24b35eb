"""The guardrail: pure checks of every outgoing message before it leaves.

`check` holds the verdict over the structured data part (prices against the
policy and the round's moves); `text` checks that the words match the facts
and reveal no internals, with the figure extraction in `numbers`.
"""
