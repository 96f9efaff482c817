# Slim runtime image for Yuqing Radar; runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY yuqing ./yuqing
COPY dataflows ./dataflows
COPY sinks ./sinks
COPY proto ./proto
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# A CJK font, or every brand name in the report charts renders as boxes.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 yuqing
COPY --from=build /install /usr/local
USER yuqing
WORKDIR /home/yuqing
ENV YUQING_STORE=chdb:///home/yuqing/var/clickhouse \
    YUQING_HTTP=0.0.0.0:9108
EXPOSE 9108 50151
# /healthz answers 200 while the flow runs (and after a finite input finished), 503 once it failed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"
ENTRYPOINT ["yuqing"]
CMD ["run", "--input", "demo"]
