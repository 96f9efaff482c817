"""The reference runners against real endpoints: an HTTP server on loopback, a subprocess, the console."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from yuqing import cli
from yuqing.bus.auth import hash_token
from yuqing.bus.client import RunnerClient
from yuqing.bus.outbox import DONE, FAILED, Outbox
from yuqing.bus.server import publish
from yuqing.proto import action_bus_pb2
from yuqing.runners.console import ConsoleRunner
from yuqing.runners.exec import ExecRunner
from yuqing.runners.webhook import WebhookRunner

from bus_factory import TOKEN_FILE, TOKENS, activation, incident, start_bus, stop_bus, ticket

SECRET = "SEC0123456789abcdef"
NOW = 1_741_155_600.0


class Hook:
    """A webhook endpoint on loopback that records requests and answers from a script."""

    def __init__(self, answers=None, default=(200, '{"errcode":0,"errmsg":"ok","code":0}')):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.answers = list(answers or [])
        self.default = default
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((self.path, dict(self.headers), body))
                status, text = hook.answers.pop(0) if hook.answers else hook.default
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?key=abc"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def delivery(message=None, cursor=7):
    message = message or activation()
    if isinstance(message, action_bus_pb2.Delivery):
        return message
    field = "ticket" if message.DESCRIPTOR.name == "Ticket" else "activation"
    return action_bus_pb2.Delivery(cursor=cursor, attempt=1, **{field: message})


def post(hook, fmt, message=None, **kw):
    runner = WebhookRunner(hook.url, fmt, SECRET, clock=lambda: NOW, backoff=0.01, **kw)
    outcome = runner(delivery(message))
    path, headers, body = hook.requests[-1]
    return outcome, urllib.parse.urlsplit(path), headers, json.loads(body), body


def test_generic_posts_the_event_json_with_an_hmac_sha256_signature(hook):
    outcome, _, headers, body, raw = post(hook, "generic")
    assert outcome.status == DONE
    assert body["schema"] == "yuqing.delivery/v1" and body["key"] == "inc-1/outage.xinghui_pay/2"
    assert body["activation"]["incident"]["brand"] == "星汇支付" and "## " in body["markdown"]
    assert headers["X-Yuqing-Key"] == body["key"]
    timestamp = headers["X-Yuqing-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert headers["X-Yuqing-Signature"] == f"sha256={expected}"
    assert timestamp == str(int(NOW))


def test_wecom_gets_a_markdown_message_within_its_size_limit(hook):
    outcome, _, _, body, _ = post(hook, "wecom")
    assert outcome.status == DONE
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert "二级舆情" in content and "星汇支付" in content and len(content.encode()) <= 4096


def test_dingtalk_gets_markdown_and_a_signed_url(hook):
    outcome, url, _, body, _ = post(hook, "dingtalk")
    assert outcome.status == DONE
    assert body == {"msgtype": "markdown", "markdown": {"title": body["markdown"]["title"],
                                                       "text": body["markdown"]["text"]}}
    query = urllib.parse.parse_qs(url.query)
    assert query["key"] == ["abc"] and query["timestamp"] == [str(int(NOW * 1000))]
    string_to_sign = f"{int(NOW * 1000)}\n{SECRET}".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), string_to_sign, hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]


def test_feishu_gets_a_card_with_timestamp_and_sign(hook):
    outcome, _, _, body, _ = post(hook, "feishu", ticket("weibo:5", followers=80_000))
    assert outcome.status == DONE
    assert body["msg_type"] == "interactive" and body["timestamp"] == str(int(NOW))
    key = f"{int(NOW)}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert "客服工单" in body["card"]["header"]["title"]["content"]
    assert "催收打电话" in body["card"]["elements"][0]["content"]


def test_slack_gets_blocks_in_mrkdwn():
    hook = Hook(default=(200, "ok"))
    try:
        outcome, _, _, body, _ = post(hook, "slack")
    finally:
        hook.close()
    assert outcome.status == DONE
    section = body["blocks"][1]["text"]
    assert body["blocks"][0]["type"] == "header" and section["type"] == "mrkdwn"
    assert "**" not in section["text"] and "<https://weibo.com/1|原文>" in section["text"]


def test_server_errors_are_retried_with_backoff_until_the_post_succeeds():
    hook = Hook(answers=[(503, "busy"), (500, "oops")])
    try:
        outcome, *_ = post(hook, "wecom", attempts=4)
    finally:
        hook.close()
    assert outcome.status == DONE and len(hook.requests) == 3


def test_a_webhook_that_keeps_failing_is_reported_failed_for_a_later_retry():
    hook = Hook(default=(502, "bad gateway"))
    try:
        outcome, *_ = post(hook, "generic", attempts=3)
    finally:
        hook.close()
    assert (outcome.status, outcome.retry) == (FAILED, True) and len(hook.requests) == 3
    assert "HTTP 502" in outcome.detail


@pytest.mark.parametrize("fmt, answer", [
    ("dingtalk", (200, '{"errcode":310000,"errmsg":"sign not match"}')),
    ("generic", (400, "bad request")),
])
def test_a_refusal_is_failed_at_once_with_the_tools_answer(fmt, answer):
    hook = Hook(default=answer)
    try:
        outcome, *_ = post(hook, fmt, attempts=3)
    finally:
        hook.close()
    assert (outcome.status, outcome.retry, len(hook.requests)) == (FAILED, False, 1)
    assert ("sign not match" if fmt == "dingtalk" else "HTTP 400") in outcome.detail


def test_the_webhook_runner_reports_a_failure_back_to_the_bus_as_the_delivery_status(tmp_path):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKEN_FILE, encoding="utf-8")
    server = start_bus(tmp_path / "o.sqlite3", tokens=tokens)
    hook = Hook(default=(200, '{"errcode":300001,"errmsg":"token is not exist"}'))
    try:
        server.outbox.record_incident(incident())
        cursor = publish(server.outbox, activation())
        client = RunnerClient(server.address, "ops", token=TOKENS["ops"], backoff=(0.05, 0.1))
        client.run(WebhookRunner(hook.url, "dingtalk", backoff=0.01), max_deliveries=1)
        client.close()
        record = server.outbox.incident("inc-1")
        (state,) = record.deliveries
        assert (state.runner, state.seq, state.status) == ("ops", cursor, FAILED)
        assert "token is not exist" in state.detail
    finally:
        hook.close()
        stop_bus(server)


SCRIPT = """
import json, os, sys
event = json.load(sys.stdin)
with open(os.environ["OUT"], "a", encoding="utf-8") as f:
    f.write(json.dumps([os.environ["YUQING_KEY"], event["kind"], event["cursor"]]) + "\\n")
print("opened CRM ticket T-" + event["ticket"]["mention_id"] if event["kind"] == "ticket" else "ok")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def test_exec_runs_the_command_with_the_event_as_json_on_stdin(tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("OUT", str(out))
    runner = ExecRunner([sys.executable, "-c", SCRIPT], timeout=30)
    outcome = runner(delivery(ticket("weibo:42"), cursor=3))
    assert (outcome.status, outcome.detail) == (DONE, "opened CRM ticket T-weibo:42")
    assert json.loads(out.read_text()) == ["ticket/weibo:42", "ticket", 3]
    monkeypatch.setenv("EXIT", "75")
    assert runner(delivery()).retry is True
    monkeypatch.setenv("EXIT", "3")
    failed = runner(delivery())
    assert (failed.status, failed.retry) == (FAILED, False) and "exited 3" in failed.detail


def test_the_console_prints_tasks_deadlines_and_evidence_readably():
    out = io.StringIO()
    assert ConsoleRunner(out)(delivery()).status == DONE
    text = out.getvalue()
    assert "【二级舆情】星汇支付 · 系统故障" in text
    assert "技术部" in text and "截止" in text and "提现失败" in text
    assert "**" not in text


def test_bus_token_prints_a_token_file_entry(capsys):
    assert cli.main(["bus", "token", "itops-1", "--departments", "tech,pr"]) == 0
    printed = capsys.readouterr().out
    token = printed.splitlines()[1].removeprefix("# ")
    assert f"token_sha256: {hash_token(token)}" in printed
    assert "departments: [tech, pr]" in printed


def test_bus_serve_and_runner_console_commands_work_together(tmp_path):
    """`yuqing bus serve` in one process, `yuqing runner console` in another, the flow's appends in a third."""
    env = {**os.environ, "YUQING_RUNNER_TOKEN": TOKENS["all"], "PYTHONUNBUFFERED": "1"}
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKEN_FILE, encoding="utf-8")
    outbox_path = tmp_path / "outbox.sqlite3"
    serve = subprocess.Popen(
        [sys.executable, "-m", "yuqing.cli", "bus", "serve", "--outbox", str(outbox_path), "--port", "0",
         "--tokens", str(tokens)], stderr=subprocess.PIPE, text=True, env=env)
    runner = None
    try:
        line = serve.stderr.readline()
        while "serving" not in line and line:
            line = serve.stderr.readline()
        address = line.rsplit(" ", 1)[-1].strip()
        runner = subprocess.Popen(
            [sys.executable, "-m", "yuqing.cli", "runner", "console", "--server", address,
             "--runner-id", "all", "--state", str(tmp_path / "state.json")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        box = Outbox(outbox_path)
        publish(box, activation())
        box.close()
        seen = ""
        deadline = time.time() + 20
        while "inc-1/outage.xinghui_pay/2" not in seen and time.time() < deadline:
            seen += runner.stdout.readline()
        assert "星汇支付" in seen and "inc-1/outage.xinghui_pay/2" in seen
    finally:
        for proc in (runner, serve):
            if proc is not None:
                proc.terminate()
                assert proc.wait(10) == 0


def test_bus_token_hashes_a_given_token_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("my-own-long-random-token-0123456789\n"))
    assert cli.main(["bus", "token", "crm-1", "--stdin"]) == 0
    assert hash_token("my-own-long-random-token-0123456789") in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["bus", "token", "crm-1", "--stdin"]) == 2


def test_runner_webhook_and_exec_commands_act_and_acknowledge(tmp_path):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKEN_FILE, encoding="utf-8")
    server = start_bus(tmp_path / "o.sqlite3", tokens=tokens)
    hook = Hook()
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "OUT": str(out), "YUQING_BUS": server.address}
    common = ["--state", str(tmp_path / "state-{}.jsonl")]
    procs = []
    try:
        act_cursor = publish(server.outbox, activation())
        ticket_cursor = publish(server.outbox, ticket("weibo:77"))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "yuqing.cli", "runner", "webhook", hook.url, "--format", "feishu",
             "--secret", SECRET, "--runner-id", "ops", *common[:1], common[1].format("ops")],
            env={**env, "YUQING_RUNNER_TOKEN": TOKENS["ops"]}, ))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "yuqing.cli", "runner", "exec", "--runner-id", "crm", "--kinds", "ticket",
             *common[:1], common[1].format("crm"), "--", sys.executable, "-c", SCRIPT],
            env={**env, "YUQING_RUNNER_TOKEN": TOKENS["crm"]}, ))
        deadline = time.time() + 20
        box = server.outbox
        last = box.last_seq()  # each runner's cursor passes what is not for it
        while time.time() < deadline and not box.committed("ops") == box.committed("crm") == last:
            time.sleep(0.05)
        assert box.committed("ops") == box.committed("crm") == last
        assert [d.runner for d in box.delivery_states(act_cursor)] == ["ops"]
        assert json.loads(hook.requests[0][2])["msg_type"] == "interactive"
        assert json.loads(out.read_text()) == ["ticket/weibo:77", "ticket", ticket_cursor]
        assert box.delivery_states(ticket_cursor)[0].detail == "opened CRM ticket T-weibo:77"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        hook.close()
        stop_bus(server)


def test_bus_serve_on_an_outbox_it_cannot_open_says_so_in_one_line(tmp_path, capsys):
    from yuqing import cli

    assert cli.main(["bus", "serve", "--outbox", str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err.strip()
    assert "is a directory; give a file such as" in err and "\n" not in err and "Traceback" not in err
