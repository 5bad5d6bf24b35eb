"""Chat models behind the seller agent: the offline playbook model (default) and OpenAI-compatible ones."""
