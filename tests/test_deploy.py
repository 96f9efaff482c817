"""The one-host deployment files parse and wire the parts together (Docker is not run here)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"


def test_compose_file_runs_kafka_clickhouse_grafana_and_the_service_from_our_dockerfile():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"kafka", "kafka-topics", "clickhouse", "grafana", "yuqing"}
    topics = " ".join(services["kafka-topics"]["command"])
    service_command = " ".join(services["yuqing"]["command"])
    for topic in ("mentions", "alerts", "mentions.dlq", "feedback"):  # the run checks they exist
        assert f"kafka://kafka:9092/{topic}" in service_command and topic in topics
    assert services["yuqing"]["stop_grace_period"] == "60s"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    grafana = services["grafana"]
    assert grafana["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource 4.5.1"
    assert grafana["environment"]["YUQING_CH_GRAFANA_USER"] == "grafana_ro"
    mounts = " ".join(grafana["volumes"])
    assert "../grafana/provisioning:/etc/grafana/provisioning" in mounts
    assert "../grafana/dashboards:/var/lib/grafana/dashboards/yuqing" in mounts
    service = services["yuqing"]
    assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    command = service["command"]
    assert command[:3] == ["run", "--input", "kafka://kafka:9092/mentions"]
    assert command[command.index("--store") + 1].startswith("clickhouse://")
    assert command[command.index("--alerts") + 1].startswith("kafka://")
    for mount in services["clickhouse"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).is_file(), mount


def test_clickhouse_grafana_user_is_read_only_and_may_set_max_execution_time():
    root = ET.parse(DEPLOY / "clickhouse/users.d/yuqing.xml").getroot()
    user = root.find("users/grafana_ro")
    assert user.find("password").get("from_env")
    assert [q.text for q in user.findall("grants/query")] == ["GRANT SELECT ON yuqing.*"]
    profile = root.find(f"profiles/{user.find('profile').text}")
    assert profile.find("readonly").text == "1"
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None


def test_dockerfile_runs_as_a_non_root_user_on_a_slim_base():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "-slim" in dockerfile
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_the_shipped_token_file_loads_and_an_open_bus_off_loopback_is_refused():
    from yuqing.bus.auth import TokenFile
    from yuqing.bus.outbox import Outbox
    from yuqing.dataflows.launcher import RunOptions, start_bus
    from yuqing.errors import UserError

    TokenFile(DEPLOY / "yuqing" / "tokens.yaml")
    with pytest.raises(UserError, match="without tokens anyone on the network"):
        start_bus(RunOptions(bus="0.0.0.0:0"), Outbox(":memory:"))
    with pytest.raises(UserError, match="in the clear without TLS"):
        start_bus(RunOptions(bus="0.0.0.0:0", tokens=DEPLOY / "yuqing" / "tokens.yaml"),
                  Outbox(":memory:"))
