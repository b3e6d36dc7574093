# newsbot in a container: the same install as the Makefile, run as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NEWSBOT_DB=/data/newsbot.db

RUN useradd --create-home --uid 10001 newsbot \
    && mkdir -p /data && chown newsbot:newsbot /data

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir '.[fulltext]'

USER newsbot
VOLUME ["/data"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
