# newsbot in a container: the same install as the Makefile, run as a non-root user.
#
# Layers: the dependencies first, from pyproject.toml and constraints.txt alone, so that a
# change to the code rebuilds only the last layers; constraints.txt pins every package to
# the versions the test suite passed with (`make constraints` regenerates it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSBOT_DB=/data/newsbot.db

RUN useradd --create-home --uid 10001 newsbot \
    && mkdir -p /data && chown newsbot:newsbot /data

WORKDIR /app
COPY pyproject.toml constraints.txt ./
# The dependencies and the fulltext extra (trafilatura) that `make` installs too.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['fulltext']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt -c constraints.txt \
    && rm /tmp/requirements.txt

COPY README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir --no-deps .

USER newsbot
VOLUME ["/data"]
# 8080: /healthz, /metrics and the dashboard (NEWSBOT_HTTP_LISTEN; reachable from outside the
# container only with NEWSBOT_HTTP_LISTEN=0.0.0.0:8080, which requires NEWSBOT_HTTP_TOKEN).
# 8443: the Telegram webhook (NEWSBOT_TELEGRAM_WEBHOOK_LISTEN=0.0.0.0 in a container).
EXPOSE 8080 8443
# Asks /healthz on 127.0.0.1 at the configured port, with the token when one is set; no curl
# needed. An empty NEWSBOT_HTTP_LISTEN switches the endpoint, and so this check, off.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; l = os.environ.get('NEWSBOT_HTTP_LISTEN', '127.0.0.1:8080'); l or sys.exit(0); t = os.environ.get('NEWSBOT_HTTP_TOKEN'); u.build_opener(u.ProxyHandler({})).open(u.Request('http://127.0.0.1:' + l.rpartition(':')[2] + '/healthz', headers={'Authorization': 'Bearer ' + t} if t else {}), timeout=8)"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
