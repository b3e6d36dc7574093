"""Generated answers for /ask from an OpenAI-compatible chat-completions server (Ollama, say)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import httpx

from bot.settings import Settings
from handlers.context import Passage

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 200_000
MAX_ANSWER_TOKENS = 400
_LANGUAGE_NAMES = {"de": "German", "en": "English"}
_INSTRUCTIONS = (
    "You answer questions about news articles. Use only the numbered articles given. Answer "
    "in {language}, in at most four sentences. Cite every article you use by its number "
    "written as #N, for example #12. If the articles do not answer the question, say so and "
    "cite none."
)


class LlmAnswerWriter:
    """Sends the question and the passages found in the archive to the chat-completions
    endpoint and returns the model's answer, or None on any error or after the timeout. The
    handlers check the answer's citations; this class only talks HTTP."""

    def __init__(
        self, url: str, model: str, *, timeout: float = 20.0, api_key: str | None = None
    ) -> None:
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.api_key = api_key

    def request_body(
        self, question: str, passages: Sequence[Passage], language: str
    ) -> dict[str, object]:
        articles = "\n\n".join(f"#{p.article_id} {p.title}\n{p.text}" for p in passages)
        instructions = _INSTRUCTIONS.format(language=_LANGUAGE_NAMES.get(language, "English"))
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": f"Articles:\n\n{articles}\n\nQuestion: {question}"},
            ],
            "temperature": 0.2,
            "max_tokens": MAX_ANSWER_TOKENS,
            "stream": False,
        }

    async def write(self, question: str, passages: Sequence[Passage], language: str) -> str | None:
        return await self.complete(self.request_body(question, passages, language))

    async def complete(self, body: dict[str, object]) -> str | None:
        """The model's reply to a chat-completions request body, or None on any error or
        after the timeout (also used for translations, bot/translation.py)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(body, headers)
        except TimeoutError:
            log.warning("the language model did not answer within %g s", self.timeout)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the language model failed: %s", type(exc).__name__)
        return None

    async def _post(self, body: dict[str, object], headers: dict[str, str]) -> str | None:
        async with (
            httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client,
            client.stream("POST", self.endpoint, json=body, headers=headers) as response,
        ):
            if response.status_code != 200:
                log.warning("the language model answered HTTP %s", response.status_code)
                return None
            data = b""
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    log.warning("the language model's answer is too large")
                    return None
        return _content(json.loads(data))


def _content(document: object) -> str | None:
    """choices[0].message.content of a chat-completions response, if it is text."""
    if not isinstance(document, dict):
        return None
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else None


def answer_writer(settings: Settings) -> LlmAnswerWriter | None:
    """The configured writer, or None: generated answers are off by default."""
    if not settings.llm_url:
        return None
    if not settings.llm_model:
        log.error("NEWSBOT_LLM_URL is set without NEWSBOT_LLM_MODEL: generated answers are off")
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LlmAnswerWriter(
        settings.llm_url, settings.llm_model, timeout=settings.llm_timeout, api_key=key
    )
