"""Shared test fixtures.

Real parts only: ``kafka_broker`` is an Apache Kafka 4.1 JVM on loopback
(see ``tests/kafka_broker/harness.py``), started on first use and shared by
the whole session.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from kafka_broker.harness import KafkaBroker, KafkaHarnessError, ensure_kafka_jars

REPO = Path(__file__).resolve().parent.parent

# Store fixtures (chDB directory per session, database per test) live in their own module.
pytest_plugins = ["store_fixtures"]

# Property tests are deterministic and tolerant of a loaded 2-core machine.
settings.register_profile(
    "yuqing", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("yuqing")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A started Kafka broker (KRaft, broker + controller), stopped at session end.

    Missing Java or Maven is an error, not a skip: a run without the broker
    must not pass.
    """
    try:
        broker = KafkaBroker(ensure_kafka_jars(REPO / ".cache")).start()
    except KafkaHarnessError as error:
        message = f"the real Kafka broker for tests is unavailable: {error}"
        raise pytest.fail.Exception(message, pytrace=False) from None
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic_factory(
    kafka_broker: KafkaBroker, request: pytest.FixtureRequest
) -> Callable[..., str]:
    """Create a fresh, uniquely named topic: ``kafka_topic_factory(partitions=3)``.

    Names read as ``<test-name>-<8 hex>`` so a topic in the broker log points
    back at its test; topics are not deleted (the broker is thrown away).
    """
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", request.node.name).strip("-")[:100]

    def create(partitions: int = 1) -> str:
        topic = f"{stem}-{uuid.uuid4().hex[:8]}"
        kafka_broker.create_topics([topic], partitions=partitions)
        return topic

    return create
