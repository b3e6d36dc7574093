"""Answers from the archive: /search, /ask, and plain questions in private chats or mentions.

One job a module: words (a query's words, stop words from data/), folding (words as the search
index holds them), compounds, retrieval (candidates and ranking), quoting (the sentences to
quote), replies (what a person reads), commands (the entry points; importing this package
registers /search and /ask)."""

from __future__ import annotations

from handlers.answers.commands import addressed_question, answer_message

__all__ = ["addressed_question", "answer_message"]
