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
RUN useradd --create-home --uid 10001 yuqing
COPY --from=build /install /usr/local
USER yuqing
WORKDIR /home/yuqing
ENV YUQING_STORE=chdb:///home/yuqing/var/clickhouse
ENTRYPOINT ["yuqing"]
CMD ["run", "--input", "demo"]
