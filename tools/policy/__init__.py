"""The negotiation policy: the vendor's playbook as data, and the decisions it implies."""
