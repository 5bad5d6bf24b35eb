"""The deterministic concession strategy and playbook moves."""
