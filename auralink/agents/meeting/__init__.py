"""Group-call capabilities: who an agent answers (addressing), moderation as a policy stage,
translation providers, and meeting notes (summary, decisions, action items, open questions)."""
