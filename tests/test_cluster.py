"""One dataflow on two processes gives exactly what one process gives, also after a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from process_lines import wait_for_match
from replay_runs import COMPARED, event_keys, history, produce_demo_by_brand, run_args, tables

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _run(replay: str, folder, *extra: str) -> subprocess.CompletedProcess:
    folder.mkdir()
    store = f"chdb://{folder}/store?database=radar"
    done = subprocess.run([*run_args(replay, store, folder), *extra], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_processes_give_what_one_process_gives(kafka_broker, kafka_topic_factory, tmp_path):
    topic = kafka_topic_factory(partitions=4)
    produce_demo_by_brand(kafka_broker, topic)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"
    _run(replay, tmp_path / "one")
    two = _run(replay, tmp_path / "two", "--processes", "2")
    assert "cluster of 2 processes" in two.stderr
    assert "process 1 finished" in two.stdout or "process 1 finished" in two.stderr
    single = tables(f"chdb://{tmp_path / 'one'}/store?database=radar")
    pair = tables(f"chdb://{tmp_path / 'two'}/store?database=radar")
    for name in COMPARED:
        assert pair[name] == single[name], f"table {name} differs on two processes"
    assert single["mentions"], "the replay must write mentions"
    assert history(tmp_path / "two" / "outbox.sqlite3") == history(tmp_path / "one" / "outbox.sqlite3")


def test_two_processes_append_to_a_bus_log_what_one_process_puts_in_its_file(
        kafka_broker, kafka_topic_factory, tmp_path):
    topic = kafka_topic_factory(partitions=4)
    produce_demo_by_brand(kafka_broker, topic)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"
    bus_log = f"kafka://{kafka_broker.bootstrap}/{topic}-bus"
    _run(replay, tmp_path / "one")
    two = _run(replay, tmp_path / "two", "--processes", "2", "--outbox", bus_log)
    assert "cluster of 2 processes" in two.stderr
    assert not (tmp_path / "two" / "outbox.sqlite3").exists()
    single = tmp_path / "one" / "outbox.sqlite3"
    assert event_keys(bus_log) == event_keys(single), "the same activations and tickets"
    assert event_keys(single), "the replay must activate playbooks"
    assert history(bus_log) == history(single), "the same tier changes"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_process_killed_and_the_cluster_restarted_loses_nothing(kafka_broker, kafka_topic_factory,
                                                                  tmp_path):
    topic = kafka_topic_factory(partitions=4)
    produce_demo_by_brand(kafka_broker, topic, hours=24)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"
    _run(replay, tmp_path / "one")
    folder = tmp_path / "two"
    folder.mkdir()
    store = f"chdb://{folder}/store?database=radar"
    args = [*run_args(replay, store, folder), "--processes", "2"]
    first = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_match(first, r"progress: .*\b[1-9][\d,]* mentions at", timeout=60)
        [child] = _children(first.pid)
        os.kill(child, signal.SIGKILL)  # process 1 dies mid-replay
        _out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1, err[-3000:]
    assert "another process of the cluster stopped" in err and "Traceback" not in err
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from recovery store" in resumed.stderr
    single = tables(f"chdb://{tmp_path / 'one'}/store?database=radar")
    pair = tables(store)
    for name in COMPARED:
        assert pair[name] == single[name], f"table {name} differs after a kill and a restart"
    assert history(folder / "outbox.sqlite3") == history(tmp_path / "one" / "outbox.sqlite3")


LABELS = [{"text": "星汇支付这次稳如老狗，yyds", "label": "negative"},
          {"text": "锐芯手机续航真顶，点赞", "label": 1},
          {"text": "云擎客服效率太低了，等了一小时", "label": 0}]


def _models(done: subprocess.CompletedProcess) -> dict[str, str]:
    """The model digest each process reports: process 0 in its summary, the others in one line."""
    text = done.stdout + done.stderr
    found = {m.group(1): m.group(2)
             for m in re.finditer(r"process (\d+) finished in [\d.]+ s; sentiment model: [\d,]+ "
                                  r"labels learned \(model (\w+)\)", text)}
    summary = re.search(r"labels learned \(model (\w+); every worker", text)
    if summary:
        found["0"] = summary.group(1)
    return found


def test_every_process_scores_with_the_model_the_labels_taught_also_after_a_restart(
        kafka_broker, kafka_topic_factory, tmp_path):
    topic = kafka_topic_factory(partitions=4)
    produce_demo_by_brand(kafka_broker, topic, hours=2)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"
    feedback = tmp_path / "labels.jsonl"
    feedback.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LABELS) + "\n")
    one = _models(_run(replay, tmp_path / "one", "--feedback", str(feedback)))
    folder = tmp_path / "two"
    two = _models(_run(replay, folder, "--feedback", str(feedback), "--processes", "2"))
    assert set(two) == {"0", "1"} and two["0"] == two["1"] == one["0"], (one, two)
    # the same cluster again: nothing new to read, so only the restored learner's
    # announcement can teach the board of the process it does not run in
    store = f"chdb://{folder}/store?database=radar"
    again = subprocess.run([*run_args(replay, store, folder), "--feedback", str(feedback),
                            "--processes", "2"], capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from recovery store" in again.stderr
    assert _models(again) == two


def test_a_partition_without_a_snapshot_starts_where_the_store_first_started_it(tmp_path):
    from yuqing.dataflows.kafka_source import StartBook

    asked = []
    book = StartBook(tmp_path / "recovery")
    assert book.start("mentions", 2, lambda: asked.append(1) or 40) == 40
    # later the group's commit ran ahead of what the cluster made durable: the record stands
    again = StartBook(tmp_path / "recovery")
    assert again.start("mentions", 2, lambda: asked.append(1) or 99) == 40
    assert again.start("mentions", 3, lambda: 7) == 7 and asked == [1]


@pytest.mark.parametrize(("options", "says"), [
    ({"processes": 2, "input": "-"}, "stdin reaches one process only"),
    ({"process_id": 3, "addresses": "127.0.0.1:1;127.0.0.1:2"}, "give 0 to 1 for 2 addresses"),
    ({"process_id": 1}, "give --process-id and --addresses together"),
    ({"process_id": 0, "addresses": "nohost"}, "give HOST:PORT"),
    ({"processes": 0}, "--processes must be 1 or more"),
])
def test_a_cluster_misconfigured_is_one_line(options, says):
    from yuqing.dataflows.launcher import RunOptions, membership
    from yuqing.errors import UserError

    with pytest.raises(UserError, match=says):
        membership(RunOptions(**options))


def test_process_zero_of_a_cluster_owns_the_store_and_picks_free_ports():
    from yuqing.dataflows.launcher import RunOptions, membership

    member = membership(RunOptions(processes=3))
    assert member.owner and member.count == 3 and len(set(member.addresses)) == 3
    assert not membership(RunOptions(process_id=1, addresses="a:1;b:2")).owner
