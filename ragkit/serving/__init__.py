"""Serving ragkit to other programs: an OpenAI-compatible HTTP API and MCP (`ragkit serve`, `ragkit mcp`)."""
