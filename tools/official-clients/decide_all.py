#!/usr/bin/env python3
"""Every answer of the official Optimizely Python SDK (optimizely-sdk 5.7.0) for a datafile
and a list of users, as JSON, so another program can compare two datafiles (or two SDKs).

    decide_all.py DATAFILE.json USERS.json

USERS.json is a JSON array of {"id": "...", "attributes": {...}}. The output (stdout) is
a JSON array with, for each user in order:

    {"id": ...,
     "flags": {flag key: {"enabled", "variation_key", "rule_key", "variables"}},
     "experiments": {experiment key: variation key or null}}

"flags" comes from decide_all on a user context (no decision events); "experiments" from
the legacy get_variation on every experiment of the datafile (groups included; rollout
rules are reached through their flags). Nothing is sent anywhere: the event dispatcher
drops every event. Exits 1, saying why, when the SDK rejects the datafile.
"""

import json
import sys

from optimizely import optimizely, version
from optimizely.decision.optimizely_decide_option import OptimizelyDecideOption
from optimizely.logger import NoOpLogger

SDK_VERSION = "5.7.0"


class DropEvents:
    """An event dispatcher that sends nothing: only decisions are wanted here."""

    def dispatch_event(self, event) -> None:
        pass


def experiment_keys(datafile):
    keys = [e["key"] for e in datafile.get("experiments", [])]
    for group in datafile.get("groups", []):
        keys.extend(e["key"] for e in group.get("experiments", []))
    return sorted(set(keys))


def main() -> int:
    if version.__version__ != SDK_VERSION:
        print(f"optimizely-sdk {version.__version__} found, {SDK_VERSION} needed", file=sys.stderr)
        return 1
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        users = json.load(f)
    client = optimizely.Optimizely(datafile=text, event_dispatcher=DropEvents(), logger=NoOpLogger())
    if not client.is_valid or client.config_manager.get_config() is None:
        print(f"the SDK rejects {sys.argv[1]}", file=sys.stderr)
        return 1
    experiments = experiment_keys(json.loads(text))
    answers = []
    for user in users:
        user_id, attributes = str(user["id"]), user.get("attributes") or {}
        context = client.create_user_context(user_id, attributes)
        decisions = context.decide_all([OptimizelyDecideOption.DISABLE_DECISION_EVENT])
        flags = {
            key: {
                "enabled": d.enabled,
                "variation_key": d.variation_key,
                "rule_key": d.rule_key,
                "variables": d.variables,
            }
            for key, d in decisions.items()
        }
        variations = {key: client.get_variation(key, user_id, attributes) for key in experiments}
        answers.append({"id": user_id, "flags": flags, "experiments": variations})
    json.dump(answers, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
