#!/usr/bin/env python3
"""Differential-test oracle: run the official Python SDK over a `vario eval` request stream.

Usage:
    run_python_sdk.py --datafile DATAFILE.json --requests REQUESTS.jsonl --out EXPECTED.jsonl
    run_python_sdk.py --validity DIR --out EXPECTED.json

Eval mode (see the eval protocol spec): ONE `optimizely.Optimizely` client is built from
the datafile with
  * an in-memory user profile service (a dict, empty at start),
  * a capturing event dispatcher, and
  * `ForwardingEventProcessor(dispatcher)`, so every event is dispatched synchronously as
    its own batch.
Every request line is answered in order. Output line i is
    {"response": <protocol response>, "events": [<events dispatched during request i>]}
where an event is {"url": ..., "http_verb": ..., "params": <event batch JSON>}.

The `error` field of a response is computed by this script from the request and the
datafile (the SDK does not report it), following the eval protocol's list of conditions.

`uuid` and `timestamp` of every snapshot event are replaced by fixed placeholders so that
the output is fully deterministic (both fields are excluded from comparison anyway).

Validity mode: for every `*.json` file in DIR (sorted by name), decide whether the SDK
accepts the datafile (the static config manager holds a config after construction) and
write {file name: true/false} as JSON.

Requires `optimizely-sdk==5.7.0`. The script refuses to run with any other version.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys


from optimizely import optimizely as optimizely_module
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.user_profile import UserProfileService
from optimizely.version import __version__ as SDK_VERSION

REQUIRED_SDK_VERSION = '5.7.0'

UUID_PLACEHOLDER = '00000000-0000-4000-8000-000000000000'
TIMESTAMP_PLACEHOLDER = 0

DECIDE_OPTION_NAMES = (
    'DISABLE_DECISION_EVENT',
    'ENABLED_FLAGS_ONLY',
    'IGNORE_USER_PROFILE_SERVICE',
    'EXCLUDE_VARIABLES',
    'INCLUDE_REASONS',
)

OPS = (
    'activate', 'get_variation', 'track', 'is_feature_enabled', 'get_feature_variable',
    'get_enabled_features', 'decide', 'decide_all', 'set_forced_variation',
    'get_forced_variation',
)


class OracleError(Exception):
    """The SDK raised on a request: the generator produced an input class to avoid."""


class CapturingDispatcher:
    """Event dispatcher that records every dispatched LogEvent instead of sending it."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def dispatch_event(self, log_event) -> None:
        # Round-trip through JSON: this is exactly the body the default dispatcher posts.
        params = json.loads(json.dumps(log_event.params))
        for visitor in params.get('visitors', []):
            for snapshot in visitor.get('snapshots', []):
                for event in snapshot.get('events', []):
                    if 'uuid' in event:
                        event['uuid'] = UUID_PLACEHOLDER
                    if 'timestamp' in event:
                        event['timestamp'] = TIMESTAMP_PLACEHOLDER
        self.events.append({'url': log_event.url, 'http_verb': log_event.http_verb, 'params': params})

    def take(self) -> list[dict]:
        events, self.events = self.events, []
        return events


class InMemoryUserProfileService(UserProfileService):
    """User profile service backed by a dict (user id -> profile), empty at start.

    Profiles are deep-copied on the way in and out, like a real store would do.
    """

    def __init__(self) -> None:
        self.profiles: dict[str, dict] = {}

    def lookup(self, user_id):
        profile = self.profiles.get(user_id)
        return copy.deepcopy(profile) if profile is not None else None

    def save(self, user_profile) -> None:
        self.profiles[user_profile['user_id']] = copy.deepcopy(user_profile)


# ---------------------------------------------------------------------------
# datafile index used for the protocol's `error` field
# ---------------------------------------------------------------------------

class DatafileIndex:
    def __init__(self, datafile: dict) -> None:
        self.experiment_variations: dict[str, set] = {}
        for exp in datafile.get('experiments', []):
            self._add_experiment(exp)
        for group in datafile.get('groups', []):
            for exp in group.get('experiments', []):
                self._add_experiment(exp)
        self.event_keys = {e['key'] for e in datafile.get('events', [])}
        self.flag_variables: dict[str, set] = {}
        for flag in datafile.get('featureFlags', []):
            self.flag_variables[flag['key']] = {v['key'] for v in flag.get('variables', [])}

    def _add_experiment(self, exp: dict) -> None:
        self.experiment_variations[exp['key']] = {v['key'] for v in exp.get('variations', [])}


def _is_str(value) -> bool:
    return isinstance(value, str)


def compute_error(req: dict, index: DatafileIndex) -> str | None:
    """Return an error text when the eval protocol says `error` must be present, else None."""
    op = req.get('op')
    if not _is_str(req.get('user_id')):
        return 'user_id is not a string'
    if 'attributes' in req and req['attributes'] is not None:
        attributes = req['attributes']
        if not isinstance(attributes, dict):
            return 'attributes is not an object'
        for key, value in attributes.items():
            if isinstance(value, (list, dict)):
                return f'attribute {key!r} holds an array or object'

    if op in ('activate', 'get_variation', 'get_forced_variation', 'set_forced_variation'):
        key = req.get('experiment_key')
        if not _is_str(key) or key not in index.experiment_variations:
            return 'unknown experiment_key'
        if op == 'set_forced_variation':
            variation_key = req.get('variation_key')
            if variation_key is not None and (
                    not _is_str(variation_key) or variation_key not in index.experiment_variations[key]):
                return 'unknown variation_key'
    elif op == 'track':
        key = req.get('event_key')
        if not _is_str(key) or key not in index.event_keys:
            return 'unknown event_key'
        if 'event_tags' in req and req['event_tags'] is not None and not isinstance(req['event_tags'], dict):
            return 'event_tags is not an object'
    elif op in ('is_feature_enabled', 'get_feature_variable'):
        key = req.get('feature_key')
        if not _is_str(key) or key not in index.flag_variables:
            return 'unknown feature_key'
        if op == 'get_feature_variable':
            variable_key = req.get('variable_key')
            if not _is_str(variable_key) or variable_key not in index.flag_variables[key]:
                return 'unknown variable_key'
    elif op == 'decide':
        key = req.get('flag_key')
        if not _is_str(key) or key not in index.flag_variables:
            return 'unknown flag_key'

    if op in ('decide', 'decide_all') and 'options' in req and req['options'] is not None:
        options = req['options']
        if not isinstance(options, list) or any(
                not _is_str(o) or o not in DECIDE_OPTION_NAMES for o in options):
            return 'options is not a list of decide option names'
    return None


# ---------------------------------------------------------------------------
# request execution
# ---------------------------------------------------------------------------

def decision_json(decision, include_reasons: bool) -> dict:
    out = {
        'flag_key': decision.flag_key,
        'enabled': decision.enabled,
        'variation_key': decision.variation_key,
        'rule_key': decision.rule_key,
        'variables': decision.variables,
    }
    if include_reasons:
        out['reasons'] = list(decision.reasons)
    return out


def no_decision(flag_key) -> dict:
    return {'flag_key': flag_key, 'enabled': False, 'variation_key': None, 'rule_key': None, 'variables': {}}


def wants_reasons(options) -> bool:
    return isinstance(options, list) and 'INCLUDE_REASONS' in options


def run_request(client: optimizely_module.Optimizely, req: dict) -> dict:
    op = req['op']
    user_id = req.get('user_id')
    attributes = req.get('attributes')

    if op == 'activate':
        return {'variation_key': client.activate(req.get('experiment_key'), user_id, attributes)}
    if op == 'get_variation':
        return {'variation_key': client.get_variation(req.get('experiment_key'), user_id, attributes)}
    if op == 'track':
        client.track(req.get('event_key'), user_id, attributes, req.get('event_tags'))
        return {}
    if op == 'is_feature_enabled':
        return {'enabled': client.is_feature_enabled(req.get('feature_key'), user_id, attributes)}
    if op == 'get_feature_variable':
        return {'value': client.get_feature_variable(
            req.get('feature_key'), req.get('variable_key'), user_id, attributes)}
    if op == 'get_enabled_features':
        return {'feature_keys': client.get_enabled_features(user_id, attributes)}
    if op == 'decide':
        options = copy.deepcopy(req.get('options'))
        context = client.create_user_context(user_id, attributes)
        if context is None:
            return no_decision(req.get('flag_key'))
        decision = context.decide(req.get('flag_key'), options)
        return decision_json(decision, wants_reasons(req.get('options')))
    if op == 'decide_all':
        options = copy.deepcopy(req.get('options'))
        context = client.create_user_context(user_id, attributes)
        if context is None:
            return {'decisions': {}}
        decisions = context.decide_all(options)
        include = wants_reasons(req.get('options'))
        return {'decisions': {k: decision_json(d, include) for k, d in decisions.items()}}
    if op == 'set_forced_variation':
        return {'ok': client.set_forced_variation(req.get('experiment_key'), user_id, req.get('variation_key'))}
    if op == 'get_forced_variation':
        return {'variation_key': client.get_forced_variation(req.get('experiment_key'), user_id)}
    raise OracleError(f'unknown op {op!r}')


def build_client(datafile_text: str, dispatcher: CapturingDispatcher, ups: UserProfileService | None):
    return optimizely_module.Optimizely(
        datafile=datafile_text,
        event_dispatcher=dispatcher,
        user_profile_service=ups,
        event_processor=ForwardingEventProcessor(dispatcher),
    )


def dump_line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(',', ':'), allow_nan=False)


def run_eval(datafile_path: str, requests_path: str, out_path: str) -> None:
    with open(datafile_path, encoding='utf-8') as f:
        datafile_text = f.read()
    datafile = json.loads(datafile_text)
    index = DatafileIndex(datafile)

    dispatcher = CapturingDispatcher()
    ups = InMemoryUserProfileService()
    client = build_client(datafile_text, dispatcher, ups)
    if client.config_manager.get_config() is None:
        raise OracleError(f'{datafile_path}: the SDK rejects this datafile')

    lines_out = []
    with open(requests_path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line:
                continue
            try:
                req = json.loads(line)
            except ValueError:
                req = None
            if not isinstance(req, dict) or req.get('op') not in OPS:
                lines_out.append(dump_line({'response': {'error': 'malformed request'}, 'events': []}))
                continue
            try:
                response = run_request(client, req)
            except Exception as exc:  # a generator bug: this input class must be avoided
                raise OracleError(f'{requests_path}:{lineno}: the SDK raised {exc!r} on {line}') from exc
            error = compute_error(req, index)
            if error is not None:
                response['error'] = error
            events = dispatcher.take()
            lines_out.append(dump_line({'response': response, 'events': events}))

    with open(out_path, 'w', encoding='utf-8', newline='\n') as f:
        for line in lines_out:
            f.write(line + '\n')


def run_validity(directory: str, out_path: str) -> None:
    results = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.json') or name == 'expected.json':
            continue
        with open(os.path.join(directory, name), encoding='utf-8') as f:
            text = f.read()
        dispatcher = CapturingDispatcher()
        try:
            client = build_client(text, dispatcher, None)
        except Exception as exc:
            raise OracleError(f'{name}: constructing the client raised {exc!r}') from exc
        results[name] = client.config_manager.get_config() is not None
    with open(out_path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(json.dumps(results, indent=2, sort_keys=True) + '\n')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--datafile')
    parser.add_argument('--requests')
    parser.add_argument('--validity', metavar='DIR')
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)

    if SDK_VERSION != REQUIRED_SDK_VERSION:
        print(f'optimizely-sdk {REQUIRED_SDK_VERSION} is required, found {SDK_VERSION}', file=sys.stderr)
        return 2
    try:
        if args.validity:
            run_validity(args.validity, args.out)
        elif args.datafile and args.requests:
            run_eval(args.datafile, args.requests, args.out)
        else:
            parser.error('give --datafile and --requests, or --validity')
    except OracleError as exc:
        print(f'oracle error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
