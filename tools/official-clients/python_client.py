#!/usr/bin/env python3
"""The official Optimizely Python SDK (optimizely-sdk 5.7.0) as a client of `vario serve`.

It fetches the datafile from the server's datafile hosting, decides and tracks for every
user, sends its events to the server's Events API, and prints a JSON summary of every
event it sent (taken from the SDK's LOG_EVENT notifications).

    python_client.py --server http://127.0.0.1:8080 --sdk-key KEY [USER ...] < users.jsonl

Users are given as arguments or, without any, one per line on stdin: a plain user id or
a JSON object {"id": "...", "attributes": {...}}. For each user, in order:
  - activate every A/B experiment (the legacy API);
  - decide every flag with a user context (decide API);
  - is_feature_enabled on the first flag (legacy API);
  - track every event (--event, default: all events of the datafile), the even-numbered
    ones through the user context, the others with the legacy track call, with tags
    {"revenue": cents, "value": number, "category": "..."} that depend on the user's
    position and the event's, so a reader can check them.
The process exits 0 only if every batch was answered 2xx.
"""

import argparse
import json
import sys
import threading

import requests
from optimizely import optimizely, version
from optimizely.config_manager import PollingConfigManager
from optimizely.event.event_processor import BatchEventProcessor
from optimizely.event_builder import Event
from optimizely.helpers import enums
from optimizely.notification_center import NotificationCenter

SDK_VERSION = "5.7.0"


class VarioEventDispatcher:
    """Sends every batch to Vario's Events API instead of Optimizely's logx endpoint:
    the documented way to change where the Python SDK sends events."""

    def __init__(self, endpoint, write_key=None):
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/json"}
        if write_key:
            self.headers["X-Vario-Write-Key"] = write_key
        self.session = requests.Session()
        self.lock = threading.Lock()
        self.sent = 0
        self.events = 0
        self.failed = []

    def dispatch_event(self, event: Event) -> None:
        try:
            answer = self.session.post(self.endpoint, data=json.dumps(event.params), headers=self.headers, timeout=10)
            ok, detail = 200 <= answer.status_code < 300, f"{answer.status_code} {answer.text[:300]}"
        except requests.RequestException as error:
            ok, detail = False, str(error)
        with self.lock:
            if ok:
                self.sent += 1
                self.events += sum(
                    len(s.get("events", [])) for v in event.params.get("visitors", []) for s in v.get("snapshots", [])
                )
            else:
                self.failed.append(detail)


def read_users(args):
    lines = args.users if args.users else [line for line in sys.stdin.read().splitlines() if line.strip()]
    users = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            spec = json.loads(line)
            users.append((str(spec["id"]), spec.get("attributes") or {}))
        else:
            users.append((line, {}))
    return users


def sent_events(log_event):
    """Every event of a dispatched batch, flattened."""
    params = log_event.params
    out = []
    for visitor in params.get("visitors", []):
        for snapshot in visitor.get("snapshots", []):
            decisions = snapshot.get("decisions") or []
            for event in snapshot.get("events", []):
                record = {
                    "uuid": event.get("uuid"),
                    "visitor_id": visitor.get("visitor_id"),
                    "key": event.get("key"),
                    "entity_id": event.get("entity_id"),
                    "timestamp": event.get("timestamp"),
                    "revenue": event.get("revenue"),
                    "value": event.get("value"),
                    "tags": event.get("tags"),
                    "client_name": params.get("client_name"),
                    "client_version": params.get("client_version"),
                    "revision": params.get("revision"),
                }
                if decisions:
                    d = decisions[0]
                    meta = d.get("metadata") or {}
                    record["decision"] = {
                        "campaign_id": d.get("campaign_id"),
                        "experiment_id": d.get("experiment_id"),
                        "variation_id": d.get("variation_id"),
                        "flag_key": meta.get("flag_key"),
                        "rule_key": meta.get("rule_key"),
                        "rule_type": meta.get("rule_type"),
                        "variation_key": meta.get("variation_key"),
                        "enabled": meta.get("enabled"),
                    }
                out.append(record)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the vario serve URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--sdk-key", required=True, help="the environment's SDK key on that server")
    parser.add_argument("--write-key", help="write key sent with every batch (X-Vario-Write-Key)")
    parser.add_argument("--event", action="append", default=[], help="event key to track (repeatable)")
    parser.add_argument("--batch-size", type=int, default=10, help="events per batch")
    parser.add_argument("users", nargs="*", help="user ids or JSON objects; read from stdin when none")
    args = parser.parse_args()
    if version.__version__ != SDK_VERSION:
        sys.exit(f"python_client.py needs optimizely-sdk=={SDK_VERSION}, found {version.__version__}")
    users = read_users(args)
    server = args.server.rstrip("/")

    notifications = NotificationCenter()
    sent = []
    notifications.add_notification_listener(
        enums.NotificationTypes.LOG_EVENT, lambda log_event: sent.extend(sent_events(log_event))
    )
    dispatcher = VarioEventDispatcher(f"{server}/v1/events", args.write_key)
    # The datafile comes from Vario's datafile hosting: {server}/datafiles/{sdk_key}.json.
    config_manager = PollingConfigManager(
        sdk_key=args.sdk_key,
        url_template=server + "/datafiles/{sdk_key}.json",
        blocking_timeout=10,
        update_interval=60,
        notification_center=notifications,
    )
    processor = BatchEventProcessor(
        dispatcher,
        batch_size=args.batch_size,
        flush_interval=1,
        start_on_init=True,
        notification_center=notifications,
    )
    client = optimizely.Optimizely(
        config_manager=config_manager,
        event_dispatcher=dispatcher,
        event_processor=processor,
        notification_center=notifications,
    )
    config = client.get_optimizely_config()
    if config is None:
        sys.exit(f"no datafile from {config_manager.datafile_url}")
    datafile = json.loads(config.get_datafile())
    flag_tests = {e for f in datafile.get("featureFlags", []) for e in f.get("experimentIds", [])}
    ab_tests = [e["key"] for e in datafile.get("experiments", []) if e["id"] not in flag_tests]
    ab_tests += [e["key"] for g in datafile.get("groups", []) for e in g.get("experiments", [])]
    flags = [f["key"] for f in datafile.get("featureFlags", [])]
    events = args.event or [e["key"] for e in datafile.get("events", [])]

    calls = {"activate": 0, "decide": 0, "is_feature_enabled": 0, "track": 0}
    for i, (user_id, attributes) in enumerate(users):
        for key in ab_tests:
            client.activate(key, user_id, attributes)
            calls["activate"] += 1
        user = client.create_user_context(user_id, attributes)
        calls["decide"] += len(user.decide_all())
        if flags:
            client.is_feature_enabled(flags[0], user_id, attributes)
            calls["is_feature_enabled"] += 1
        for j, key in enumerate(events):
            tags = {"revenue": 100 * (i + 1) + j, "value": 1.25 * (i + 1) + j, "category": f"c{j}"}
            if j % 2 == 0:
                user.track_event(key, tags)
            else:
                client.track(key, user_id, attributes, tags)
            calls["track"] += 1
    client.close()  # flushes the batch processor and stops polling

    counts = {}
    for event in sent:
        per_user = counts.setdefault(event["visitor_id"], {})
        per_user[event["key"]] = per_user.get(event["key"], 0) + 1
    summary = {
        "client": "optimizely-sdk (python) " + version.__version__,
        "users": len(users),
        "calls": calls,
        "batches_sent": dispatcher.sent,
        "events_delivered": dispatcher.events,
        "batches_failed": len(dispatcher.failed),
        "failures": dispatcher.failed,
        "events": sent,
        "counts": counts,
    }
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    sys.exit(1 if dispatcher.failed else 0)


if __name__ == "__main__":
    main()
