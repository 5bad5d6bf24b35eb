"""dealdesk evals: replay recorded conversations, simulate procurement agents, score and compare (issue 5)."""
