#!/usr/bin/env python3
"""Compare `vario eval` output with a committed `expected.jsonl` (standard library only).

Usage:
    compare.py --expected spec/compat/NN-name/expected.jsonl --responses OUT.jsonl [--events EVENTS.jsonl]

`--responses` is the stdout of `vario eval` (one response per request line), `--events` the
file written by `--events-out` (one event per line). Expected events of all request lines,
concatenated in order, must equal the events file.

Comparison rules (see spec/compat/README.md):
  * JSON values are compared structurally; object key order does not matter;
    numbers by value (3 == 3.0), booleans are never equal to numbers;
  * `error` in a response: only its presence is compared;
  * `reasons` in decide results (`decide`, and each entry of `decide_all`) is ignored;
  * `feature_keys` is compared as a set;
  * in event bodies `client_name`, `client_version` and each snapshot event's `uuid` and
    `timestamp` are ignored.
Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

DECISION_KEYS = {'flag_key', 'enabled', 'variation_key', 'rule_key', 'variables'}


def normalise_response(resp):
    if not isinstance(resp, dict):
        return resp
    out = dict(resp)
    if 'error' in out:
        out['error'] = True
    if 'feature_keys' in out and isinstance(out['feature_keys'], list):
        out['feature_keys'] = sorted(out['feature_keys'], key=lambda k: json.dumps(k, sort_keys=True))
    if DECISION_KEYS <= set(out):
        out.pop('reasons', None)
    if isinstance(out.get('decisions'), dict):
        out['decisions'] = {k: normalise_response(v) for k, v in out['decisions'].items()}
    return out


def normalise_event(event):
    event = json.loads(json.dumps(event))
    params = event.get('params')
    if isinstance(params, dict):
        params.pop('client_name', None)
        params.pop('client_version', None)
        for visitor in params.get('visitors') or []:
            for snapshot in visitor.get('snapshots') or []:
                for snap_event in snapshot.get('events') or []:
                    snap_event.pop('uuid', None)
                    snap_event.pop('timestamp', None)
    return event


def same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--expected', required=True)
    parser.add_argument('--responses', required=True)
    parser.add_argument('--events')
    parser.add_argument('--max-report', type=int, default=20)
    args = parser.parse_args(argv)

    expected = read_jsonl(args.expected)
    responses = read_jsonl(args.responses)
    problems = []
    if len(expected) != len(responses):
        problems.append(f'{len(responses)} responses, expected {len(expected)}')
    for i, (exp, got) in enumerate(zip(expected, responses), 1):
        want = normalise_response(exp['response'])
        have = normalise_response(got)
        if not same(want, have):
            problems.append(f'line {i}: response\n  expected {json.dumps(want, ensure_ascii=False)}\n'
                            f'  got      {json.dumps(have, ensure_ascii=False)}')
    if args.events:
        want_events = [(i, normalise_event(e)) for i, exp in enumerate(expected, 1) for e in exp['events']]
        have_events = [normalise_event(e) for e in read_jsonl(args.events)]
        if len(want_events) != len(have_events):
            problems.append(f'{len(have_events)} events, expected {len(want_events)}')
        for n, ((line, want), have) in enumerate(zip(want_events, have_events), 1):
            if not same(want, have):
                problems.append(f'event {n} (request line {line})\n  expected {json.dumps(want, ensure_ascii=False)}\n'
                                f'  got      {json.dumps(have, ensure_ascii=False)}')
                break  # later events are usually shifted; the first difference is the useful one
    for p in problems[:args.max_report]:
        print(p)
    if len(problems) > args.max_report:
        print(f'... {len(problems) - args.max_report} more')
    if problems:
        return 1
    print(f'ok: {len(responses)} responses' + (f', {len(have_events)} events' if args.events else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
