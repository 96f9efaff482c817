"""Helpers for the action-bus tests: incidents, activations, tickets, a token file, a bus on loopback."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from yuqing.bus.auth import bearer_metadata, hash_token
from yuqing.bus.outbox import Outbox
from yuqing.bus.server import BusServer
from yuqing.core.mention import Author, Engagement, Mention
from yuqing.playbooks.activation import activations_for
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.playbooks.tickets import build_ticket
from yuqing.proto import action_bus_pb2_grpc

T0 = datetime(2025, 3, 5, 6, 20, tzinfo=UTC)
LIBRARY = PlaybookLibrary.load()
TOKENS = {"ops": "ops-token-0123456789abcdef", "tenant-a": "tenant-a-token-0123456789",
          "crm": "crm-token-0123456789abcdef", "all": "all-token-0123456789abcdef"}
TOKEN_FILE = f"""
runners:
  ops:
    token_sha256: {hash_token(TOKENS["ops"])}
    departments: [tech, pr]
  tenant-a:
    token_sha256: {hash_token(TOKENS["tenant-a"])}
    brands: [星汇支付]
  crm:
    token_sha256: {hash_token(TOKENS["crm"])}
    departments: [customer_service]
  all:
    token_sha256: {hash_token(TOKENS["all"])}
"""


def incident(incident_id: str = "inc-1", brand: str = "星汇支付", tier: int = 2, **more) -> dict:
    return {
        "incident_id": incident_id, "brand": brand, "sector": "fintech", "category": "outage",
        "tier": tier, "state": "escalated" if tier > 1 else "open", "risk_score": 0.72,
        "first_seen": T0, "last_seen": T0 + timedelta(minutes=30), "opened_at": T0,
        "tier_since": T0 + timedelta(minutes=20),
        "metrics": {"mention_count": 1234, "negative_count": 960, "negative_ratio": 0.78,
                    "unique_authors": 980, "reach": 2_500_000},
        "evidence": [{"id": "weibo:1", "source": "weibo", "text": f"{brand}提现失败，钱取不出来了！",
                      "url": "https://weibo.com/1", "published_at": T0,
                      "author": {"id": "u1", "name": "小王", "followers": 52_000, "verified": True}}],
        "top_keywords": ["提现失败", "崩了"], "sources": ["weibo", "douyin"], **more,
    }


def activation(incident_id: str = "inc-1", brand: str = "星汇支付", tier: int = 2, rank: int = 0):
    return activations_for(LIBRARY, incident(incident_id, brand, tier), created_at=T0)[rank]


def ticket(mention_id: str, followers: int = 10, brand: str = "安达消费金融"):
    mention = Mention(id=mention_id, source="weibo", published_at=T0, text="催收打电话给我同事，太过分了",
                      url=f"https://weibo.com/{mention_id}",
                      author=Author(id=f"a-{mention_id}", name="c", followers=followers),
                      engagement=Engagement(likes=3))
    return build_ticket(mention, brand=brand, category="complaint_collection", created_at=T0)


def stub(server: BusServer, token: str | None = None):
    """A stub on a fresh channel and the call metadata for `token`."""
    channel = grpc.insecure_channel(server.address)
    return action_bus_pb2_grpc.ActionBusStub(channel), (bearer_metadata(token) if token else ()), channel


def start_bus(path: Path, *, port: int = 0, tokens: Path | None = None, ack_timeout: float = 0.5,
              **kw) -> BusServer:
    from yuqing.bus.auth import TokenFile

    auth = TokenFile(tokens) if tokens else None
    return BusServer(Outbox(path), port=port, auth=auth, ack_timeout=ack_timeout, retry_base=0.2,
                     **kw).start()


def stop_bus(server: BusServer) -> None:
    server.stop(grace=0)
    server.outbox.close()


def in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread
