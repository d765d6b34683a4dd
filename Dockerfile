# The API image for compose.yaml: one `timeline serve` per container.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY timeline ./timeline
COPY events ./events
COPY schemas ./schemas
COPY docs ./docs
RUN pip install --no-cache-dir . \
    && useradd --system --home /data timeline \
    && mkdir /data && chown timeline /data

# The working folder is where the default SQLite file and the first token go:
# /data, owned by the container's user (mount a volume there to keep them).
WORKDIR /data
VOLUME /data
USER timeline
ENV TIMELINE_HOST=0.0.0.0 \
    TIMELINE_PORT=8000 \
    TIMELINE_CURATED_DIR=/app/events
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready')"
CMD ["timeline", "serve"]
