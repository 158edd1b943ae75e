"""Answering: the prompt built from retrieved passages, the LLM that answers
it (local llama.cpp or a remote OpenAI-compatible server), the turns several
callers take on one model, chat, whole-document reading, the answer cache and
the context's memory plan."""
