"""AuraLink: self-hostable AI agents for real-time conversations."""

__version__ = "0.1.0"
