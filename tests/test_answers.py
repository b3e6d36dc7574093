"""/ask over a fresh archive: answer quality on tests/data, honesty, and generated answers from
a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from aiohttp import web

from bot.ingest import ingest_path
from bot.llm import LlmAnswerWriter, answer_writer
from bot.settings import SettingsError, load_settings
from handlers.context import CoreConfig, Ctx
from storage.store import Store
from tests.conftest import Chat
from tests.postgres_server import PostgresServer

DATA = Path(__file__).parent / "data"
# Measured 67 of 68 (98.5 %) when written; the one miss is a German question about an English
# article that shares only "Ransomware" with it. 90 % leaves room for a few borderline cases
# while a real regression in query building or ranking (a dozen misses) still fails.
QUALITY_THRESHOLD = 0.90
# Questions the archive cannot answer: /ask must say so rather than quote something.
UNANSWERABLE = [
    "Wer hat die Fußball-WM 2030 gewonnen?",
    "What is the capital of Peru?",
    "Wie wird das Wetter morgen in Berlin?",
    "How many moons does Jupiter have?",
    "Welche Partei hat die Bundestagswahl gewonnen?",
    "Wie viel kostet ein Flug nach Mallorca?",
    "How much does a new Tesla cost?",
    "Wann öffnet der neue Flughafen in München?",
    "Who won the election in the Netherlands?",
    "Was sagt die Bundesregierung zum Klimaschutz?",
    "How many people live in Tokyo?",
    "Wie hoch ist die Inflation in Deutschland?",
    "When does the next iPhone come out?",
    "Welche Bank hat die höchsten Zinsen?",
    "Wie viele Mitarbeiter hat Siemens?",
    "How long is the Great Wall of China?",
    "Wer ist der neue Trainer des FC Bayern?",
    "Welche Stadt hat die meisten Einwohner?",
    "Wie funktioniert ein Kernkraftwerk?",
    "Where can I buy cheap batteries?",
    "What did the company announce yesterday?",
    # Shares "programming language" with the Kalk article and gets it quoted: a near miss
    # that is kept here so that the figure stays honest.
    "What is the best programming language for beginners?",
]
# At least this share of UNANSWERABLE gets the honest answer (measured: 21 of 22).
HONESTY_THRESHOLD = 0.9


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archive_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, int]]]:
    """The test articles ingested once, through the real ingest, into a store on each engine:
    /ask passes the same thresholds on SQLite and PostgreSQL. Yields its location."""
    folder = tmp_path_factory.mktemp("archive")
    server: PostgresServer | None = None
    if request.param == "sqlite":
        location = str(folder / "archive.db")
    else:
        server = request.getfixturevalue("postgres_server")
        template = server.create_database()
        location = server.url_for(template)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NEWSBOT_CONFIG", "")
        config = load_settings().core_config()
    store = Store(location)
    store.migrate()
    ids = {}
    for file in sorted((DATA / "archive").glob("*.txt")):
        report = ingest_path(store, config, file)
        ids[file.name] = report.new[0].id
    store.close()
    yield location, ids
    if server is not None:
        server.drop_database(template)


@pytest.fixture
def archive(
    archive_db: tuple[str, dict[str, int]], config: CoreConfig, tmp_path: Path
) -> Iterator[tuple[Chat, dict[str, int]]]:
    """A chat on a copy of the archive, so that one test's /lang does not reach the next."""
    location, ids = archive_db
    if location.startswith("postgresql:"):
        parts = urlsplit(location)
        copy = f"{parts.path.lstrip('/')}_copy"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{parts.path.lstrip("/")}"')
        store = Store(urlunsplit(parts._replace(path=f"/{copy}")))
    else:
        copy = str(tmp_path / "archive.db")
        shutil.copyfile(location, copy)
        store = Store(copy)
    yield Chat(Ctx(store=store, config=config)), ids
    store.close()
    if location.startswith("postgresql:"):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{copy}" WITH (FORCE)')


def first_cited(text: str) -> int | None:
    match = re.search(r"#(\d+)", text)
    return int(match.group(1)) if match else None


async def test_answer_quality_on_the_test_archive(
    archive: tuple[Chat, dict[str, int]],
) -> None:
    chat, ids = archive
    questions = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))
    assert len(questions) >= 40 and len(ids) >= 30
    right = []
    for item in questions:
        out = await chat.text("/ask " + item["question"])
        if first_cited(out) == ids[item["answer_file"]]:
            right.append(item["question"])
    share = len(right) / len(questions)
    print(f"\n/ask answered {len(right)} of {len(questions)} questions ({share:.1%}) with the")
    print("right article first")
    assert share >= QUALITY_THRESHOLD


async def test_the_archive_says_when_it_has_no_answer(
    archive: tuple[Chat, dict[str, int]],
) -> None:
    chat, _ = archive
    honest = [q for q in UNANSWERABLE if "keine Antwort" in await chat.text("/ask " + q)]
    share = len(honest) / len(UNANSWERABLE)
    print(f"\n/ask said 'no answer' to {len(honest)} of {len(UNANSWERABLE)} unanswerable questions")
    assert share >= HONESTY_THRESHOLD


async def test_the_answer_quotes_the_sentence_with_the_figure(
    archive: tuple[Chat, dict[str, int]],
) -> None:
    chat, ids = archive
    out = await chat.text("/ask Wie viele Ladepunkte hat der neue Schnellladepark bei Kassel?")
    assert "„" in out and "48 Ladepunkte" in out
    assert f"#{ids['21_schnellladepark_a7.txt']}" in out
    assert "Der ganze Artikel: /article" in out
    out = await chat.text("/ask How heavy a load can the medicine drones in Orkney carry?")
    assert "Each drone carries up to four kilograms" in out


async def test_answers_speak_the_chats_language_and_quote_the_articles_own(
    archive: tuple[Chat, dict[str, int]],
) -> None:
    chat, ids = archive
    await chat.text("/lang en")
    out = await chat.text("/ask How much state funding does Brandenburg put into the chip factory?")
    # The bot's words in English, the article quoted in German as it was written.
    assert "“Das Land Brandenburg unterstützt das Vorhaben mit Fördermitteln" in out
    assert "The whole article: /article" in out
    assert f"#{ids['01_chipfabrik_schwarzheide.txt']}" in out
    none = await chat.text("/ask Who won the election in the Netherlands?")
    assert "I found no answer to that in the archive" in none


async def test_related_articles_follow_the_answer(archive: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = archive
    [reply] = await chat.say("/ask Wie viel Strom sparen die Wärmepumpen und die Stromzähler?")
    text = reply.text.plain()
    cited = [int(n) for n in re.findall(r"#(\d+)", text)]
    assert cited[0] in {ids["23_waermepumpe_ki_steuerung.txt"], ids["17_smart_meter_dresden.txt"]}
    assert "Verwandte Artikel:" in text and len(set(cited)) <= 3
    links = [s.url for s in reply.text.spans if s.style == "link"]
    assert links == [] or all(url and url.startswith("http") for url in links)


async def test_ask_without_content_words(archive: tuple[Chat, dict[str, int]]) -> None:
    chat, _ = archive
    assert "zu häufig" in await chat.text("/ask Was ist das?")
    assert "Was möchtest du wissen?" in await chat.text("/ask ???")
    assert "So geht es: /ask FRAGE" in await chat.text("/ask")


# --- generated answers ----------------------------------------------------------------------


class FakeModel:
    """A chat-completions endpoint on 127.0.0.1 that answers what the test tells it to."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.reply: str | None = "ok"
        self.status = 200
        self.delay_until: asyncio.Event | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        if self.delay_until is not None:
            await asyncio.wait_for(self.delay_until.wait(), 10)
        if self.status != 200:
            return web.Response(status=self.status, text="model overloaded")
        return web.json_response(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply}}]}
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/v1"


@pytest.fixture
async def model() -> AsyncIterator[FakeModel]:
    fake = FakeModel()
    await fake.start()
    yield fake
    if fake.delay_until is not None:
        fake.delay_until.set()
    assert fake.runner is not None
    await fake.runner.cleanup()


QUESTION = "Wie viele Ladepunkte hat der neue Schnellladepark bei Kassel?"


@pytest.fixture
def generated(
    archive: tuple[Chat, dict[str, int]], model: FakeModel
) -> tuple[Chat, dict[str, int], FakeModel]:
    chat, ids = archive
    # A timeout far above what the fake model takes, even on a loaded machine: these tests are
    # about what the answer says, not about time (the slow model's test sets its own).
    chat.ctx.answers = LlmAnswerWriter(model.url, "tiny-model", timeout=30, api_key="k")
    return chat, ids, model


async def test_a_generated_answer_that_cites_its_article_is_used(
    generated: tuple[Chat, dict[str, int], FakeModel],
) -> None:
    chat, ids, model = generated
    article = ids["21_schnellladepark_a7.txt"]
    model.reply = f"Der Schnellladepark hat 48 Ladepunkte (#{article})."
    out = await chat.text("/ask " + QUESTION)
    assert out.startswith(f"Der Schnellladepark hat 48 Ladepunkte (#{article}).")
    assert "Quellen:" in out and "Sprachmodell" in out
    [request] = model.requests
    assert request["model"] == "tiny-model"
    messages = request["messages"]
    assert isinstance(messages, list)
    assert "German" in messages[0]["content"]
    assert QUESTION in messages[1]["content"]
    assert f"#{article} Schnellladepark" in messages[1]["content"]
    assert "48 Ladepunkte" in messages[1]["content"]


@pytest.mark.parametrize(
    "reply",
    [
        "Der Park hat 48 Ladepunkte.",  # cites nothing
        "Der Park hat 48 Ladepunkte (#999).",  # cites an article it was not given
        "Laut #21 und #7 sind es 48.",  # one of them was not given
        "",
    ],
)
async def test_a_generated_answer_without_a_proper_citation_is_replaced(
    generated: tuple[Chat, dict[str, int], FakeModel], reply: str
) -> None:
    chat, ids, model = generated
    model.reply = reply.replace("#21", f"#{ids['21_schnellladepark_a7.txt']}")
    out = await chat.text("/ask " + QUESTION)
    assert out.startswith("„") and "48 Ladepunkte" in out
    assert "Sprachmodell" not in out
    assert len(model.requests) == 1


async def test_a_slow_or_failing_model_gives_the_extractive_answer(
    generated: tuple[Chat, dict[str, int], FakeModel],
) -> None:
    chat, ids, model = generated
    chat.ctx.answers = LlmAnswerWriter(model.url, "tiny-model", timeout=0.5, api_key="k")
    # The model holds a properly cited answer until the test lets go (10 s at most): had the
    # writer waited for it, the answer would be the model's. Only the timeout gives the
    # extractive one.
    model.reply = f"Der Schnellladepark hat 48 Ladepunkte (#{ids['21_schnellladepark_a7.txt']})."
    model.delay_until = asyncio.Event()
    out = await chat.text("/ask " + QUESTION)
    assert out.startswith("„") and "48 Ladepunkte" in out
    assert "Sprachmodell" not in out
    model.delay_until.set()
    model.delay_until = None
    model.status = 503
    assert (await chat.text("/ask " + QUESTION)).startswith("„")


async def test_a_model_that_cannot_be_reached_gives_the_extractive_answer(
    archive: tuple[Chat, dict[str, int]],
) -> None:
    chat, _ = archive
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    chat.ctx.answers = LlmAnswerWriter("http://127.0.0.1:9/v1", "m", timeout=0.5)
    assert (await chat.text("/ask " + QUESTION)).startswith("„")


def test_generated_answers_are_off_unless_configured() -> None:
    assert answer_writer(load_settings()) is None
    with pytest.raises(SettingsError, match="NEWSBOT_LLM_MODEL"):  # a URL needs a model
        load_settings(llm_url="http://127.0.0.1:11434/v1")
    writer = answer_writer(
        load_settings(llm_url="http://127.0.0.1:11434/v1/", llm_model="llama3.2")
    )
    assert writer is not None
    assert writer.endpoint == "http://127.0.0.1:11434/v1/chat/completions"
