#!/usr/bin/env python3
"""Differential fuzzer: mutated datafiles answered by Vario and both official SDKs.

Usage:
    fuzz.py --vario PATH/TO/vario [--seed N] [--datafiles N | --minutes M] [--requests N]
            [--save-dir DIR] [--verbose]

Every iteration builds a plain, valid v4 datafile from the seed (one both SDKs answer
alike), mutates it the way hand-written and old datafiles differ from generated ones
(mutations.py), derives a request stream from the mutated datafile, and answers the stream
three times:
  * the official Python SDK, optimizely-sdk==5.7.0, in this process (run_python_sdk.py's
    client: in-memory user profiles, forwarding event processor);
  * the official JavaScript SDK (run_js_sdk.mjs, one long-lived Node process);
  * `vario eval --datafile ... --events-out ...`.
It compares whether each accepts the datafile, every response (numbers by value, `reasons`
and `error` left out: `error` is the oracle's, not an SDK's) and, between Vario and Python,
the events. Requests on which an SDK raises are left out.

Where the two SDKs agree, Vario must give the same answer. Where they disagree, the
difference must be one that docs/compatibility.md lists (differences.py holds the same list
as code) and Vario must answer like the SDK the rule names. Anything else is an unexplained
difference: it is printed (with the seed and iteration to replay it, and the datafile
saved under --save-dir) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run_python_sdk as py_oracle  # noqa: E402
from compare import normalise_event, same  # noqa: E402
import differences  # noqa: E402
import mutations  # noqa: E402
from fuzz_base import base_datafile, requests_for  # noqa: E402


# ---------------------------------------------------------------------------
# the three answerers
# ---------------------------------------------------------------------------

def run_python(text: str, requests: list[dict]) -> dict:
    dispatcher = py_oracle.CapturingDispatcher()
    ups = py_oracle.InMemoryUserProfileService()
    try:
        client = py_oracle.build_client(text, dispatcher, ups)
    except Exception as exc:  # OptimizelyConfig construction raises on some datafiles
        return {'valid': None, 'why': f'constructor raised {exc!r}'}
    if client.config_manager.get_config() is None:
        return {'valid': False}
    results = []
    for req in requests:
        try:
            response = py_oracle.run_request(client, copy.deepcopy(req))
            results.append({'response': response, 'events': dispatcher.take()})
        except Exception as exc:
            dispatcher.take()
            results.append({'raised': repr(exc)})
    return {'valid': True, 'results': results}


class JsSdk:
    """One Node process running run_js_sdk.mjs; one line in, one line out per datafile."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ['node', os.path.join(HERE, 'run_js_sdk.mjs')], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, encoding='utf-8', bufsize=1)

    def run(self, text: str, requests: list[dict]) -> dict:
        self.proc.stdin.write(json.dumps({'datafile': text, 'requests': requests}) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('the JavaScript SDK runner stopped')
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def as_vario(py: dict) -> dict:
    """Python's answers in Vario's shape, to compare the two SDKs alone."""
    if not py['valid']:
        return {'valid': py['valid']}
    results = py['results']
    return {'valid': True, 'responses': [r.get('response', {}) for r in results],
            'events': [e for r in results for e in r.get('events', [])]}


def run_vario(vario: str, text: str, requests: list[dict], workdir: str) -> dict:
    datafile = os.path.join(workdir, 'datafile.json')
    events_path = os.path.join(workdir, 'events.jsonl')
    with open(datafile, 'w', encoding='utf-8') as f:
        f.write(text)
    stdin = ''.join(py_oracle.dump_line(r) + '\n' for r in requests)
    proc = subprocess.run([vario, 'eval', '--datafile', datafile, '--events-out', events_path],
                          input=stdin, capture_output=True, text=True, encoding='utf-8', timeout=60)
    if proc.returncode != 0:
        if 'invalid datafile' in proc.stderr:
            return {'valid': False, 'why': proc.stderr.strip()}
        raise RuntimeError(f'vario eval failed ({proc.returncode}): {proc.stderr.strip()}')
    responses = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    with open(events_path, encoding='utf-8') as f:
        events = [json.loads(line) for line in f if line.strip()]
    return {'valid': True, 'responses': responses, 'events': events, 'stderr': proc.stderr}


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------

def comparable(resp):
    """A response without what is not compared across SDKs: `error`, `reasons`, key order."""
    if not isinstance(resp, dict):
        return resp
    out = {k: v for k, v in resp.items() if k not in ('error', 'reasons')}
    if isinstance(out.get('feature_keys'), list):
        out['feature_keys'] = sorted(out['feature_keys'], key=lambda k: json.dumps(k, sort_keys=True))
    if isinstance(out.get('decisions'), dict):
        out['decisions'] = {k: comparable(v) for k, v in out['decisions'].items()}
    return out


class Tally:
    def __init__(self) -> None:
        self.datafiles = 0
        self.requests = 0
        self.compared = 0
        self.raised = {'python': 0, 'js': 0}
        self.load = {}
        self.documented = {}
        self.mutations = {}
        self.unexplained = []

    def count(self, bucket: dict, key: str) -> None:
        bucket[key] = bucket.get(key, 0) + 1


def check_case(tally: Tally, case: dict, py: dict, js: dict, va: dict, verbose: bool) -> list[str]:
    """Returns the unexplained differences of one mutated datafile."""
    found = []
    labels = case['labels']
    datafile = case['datafile']
    requests = case['requests']

    def explain(kind: str, **facts) -> str | None:
        return differences.explain(kind, labels=labels, datafile=datafile, **facts)

    pv, jv, vv = py['valid'], js['valid'], va['valid']
    tally.count(tally.load, f'python={pv} js={jv} vario={vv}')
    if pv is None:  # the Python SDK raises while loading: no reference answer
        return found
    if pv != jv:
        rule = explain('validity', python=pv, js=jv)
        if rule is None:
            found.append(f'validity: Python {pv}, JavaScript {jv} (undocumented difference)')
            return found
        tally.count(tally.documented, rule)
    if vv != pv:
        found.append(f'validity: Python {pv}, JavaScript {jv}, Vario {vv} {va.get("why", "")}')
        return found
    if not pv:
        return found

    py_results, js_results = py['results'], (js.get('results') if jv else None)
    vario_responses = va['responses']
    if len(vario_responses) != len(requests):
        found.append(f'vario answered {len(vario_responses)} of {len(requests)} requests')
        return found
    any_raised = False
    for i, req in enumerate(requests):
        tally.requests += 1
        p = py_results[i]
        j = js_results[i] if js_results else None
        if 'raised' in p:
            tally.raised['python'] += 1
            any_raised = True
            continue
        if j is not None and 'raised' in j:
            tally.raised['js'] += 1
            j = None
        tally.compared += 1
        want = comparable(p['response'])
        got = comparable(vario_responses[i])
        if j is not None:
            other = comparable(j['response'])
            if not same(want, other):
                rule = explain('response', request=req, python=want, js=other)
                if rule is None:
                    found.append(f'request {i + 1} {json.dumps(req)}\n    python {json.dumps(want)}\n'
                                 f'    js     {json.dumps(other)}  (undocumented SDK difference)')
                else:
                    tally.count(tally.documented, rule)
        if not same(want, got):
            found.append(f'request {i + 1} {json.dumps(req)}\n    python {json.dumps(want)}\n'
                         f'    vario  {json.dumps(got)}')
    if not any_raised:
        want_events = [normalise_event(e) for r in py_results for e in r['events']]
        have_events = [normalise_event(e) for e in va['events']]
        if not same(want_events, have_events):
            n = next((k for k, (a, b) in enumerate(zip(want_events, have_events)) if not same(a, b)),
                     min(len(want_events), len(have_events)))
            found.append(f'events differ from event {n + 1} ({len(have_events)} from Vario, '
                         f'{len(want_events)} from Python)\n'
                         f'    python {json.dumps(want_events[n] if n < len(want_events) else None)[:1500]}\n'
                         f'    vario  {json.dumps(have_events[n] if n < len(have_events) else None)[:1500]}')
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--vario', help='path of the vario binary (without it: the two SDKs only)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--datafiles', type=int, help='number of mutated datafiles')
    parser.add_argument('--minutes', type=float, help='run for this long instead')
    parser.add_argument('--requests', type=int, default=40, help='requests per datafile')
    parser.add_argument('--only', type=int, help='replay this one iteration')
    parser.add_argument('--save-dir', help='write the cases with unexplained differences here')
    parser.add_argument('--max-report', type=int, default=10)
    parser.add_argument('--case-set', action='append', default=[], metavar='DIR',
                        help='instead of fuzzing, compare the three on this case set (datafile.json, '
                             'requests.jsonl); repeatable')
    parser.add_argument('--verbose', action='store_true')
    args = parser.parse_args(argv)
    if py_oracle.SDK_VERSION != py_oracle.REQUIRED_SDK_VERSION:
        print(f'optimizely-sdk {py_oracle.REQUIRED_SDK_VERSION} is required', file=sys.stderr)
        return 2
    if args.datafiles is None and args.minutes is None:
        args.datafiles = 100

    tally = Tally()
    js = JsSdk()
    if args.case_set:
        return run_case_sets(args, tally, js)
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    reported = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        iteration = args.only or 0
        while True:
            if args.only is not None and iteration > args.only:
                break
            if args.only is None:
                if deadline is not None and time.monotonic() > deadline:
                    break
                if args.datafiles is not None and iteration >= args.datafiles:
                    break
            case = make_case(args.seed, iteration, args.requests)
            iteration += 1
            tally.datafiles += 1
            for label in case['labels']:
                tally.count(tally.mutations, label.split(':')[0])
            text = json.dumps(case['datafile'], ensure_ascii=False)
            py = run_python(text, case['requests'])
            jr = js.run(text, case['requests'])
            va = run_vario(args.vario, text, case['requests'], workdir) if args.vario else as_vario(py)
            found = check_case(tally, case, py, jr, va, args.verbose)
            if found:
                tally.unexplained.append((iteration - 1, case['labels'], found))
                if args.save_dir:
                    save_case(args.save_dir, args.seed, iteration - 1, case, text)
                if reported < args.max_report:
                    reported += 1
                    print(f'== seed {args.seed} iteration {iteration - 1}: mutations {case["labels"]}')
                    for f in found[:5]:
                        print('  ' + f)
                    sys.stdout.flush()
    js.close()
    elapsed = time.monotonic() - started
    print(f'fuzz: seed {args.seed}, {tally.datafiles} mutated datafiles, {tally.requests} requests, '
          f'{tally.compared} compared with both SDKs or Python ({elapsed:.0f} s)')
    print(f'  requests where an SDK raised (left out): Python {tally.raised["python"]}, '
          f'JavaScript {tally.raised["js"]}')
    print('  loading: ' + ', '.join(f'{k}: {v}' for k, v in sorted(tally.load.items())))
    print('  mutations: ' + ', '.join(f'{k} {v}' for k, v in sorted(tally.mutations.items())))
    if tally.documented:
        print('  documented SDK differences seen: ' +
              ', '.join(f'{k} x{v}' for k, v in sorted(tally.documented.items())))
    if tally.unexplained:
        print(f'  UNEXPLAINED differences in {len(tally.unexplained)} datafiles '
              f'(iterations {[i for i, _, _ in tally.unexplained][:30]})')
        return 1
    print('  no unexplained difference')
    return 0


def run_case_sets(args, tally: Tally, js: JsSdk) -> int:
    """Compares the three answerers on committed case sets (no mutation: only the
    differences documented for every datafile are accepted)."""
    failed = 0
    with tempfile.TemporaryDirectory() as workdir:
        for directory in args.case_set:
            with open(os.path.join(directory, 'datafile.json'), encoding='utf-8') as f:
                text = f.read()
            with open(os.path.join(directory, 'requests.jsonl'), encoding='utf-8') as f:
                requests = [json.loads(line) for line in f if line.strip()]
            case = {'datafile': json.loads(text), 'labels': [], 'requests': requests}
            py = run_python(text, requests)
            jr = js.run(text, requests)
            va = run_vario(args.vario, text, requests, workdir) if args.vario else as_vario(py)
            found = check_case(tally, case, py, jr, va, args.verbose)
            status = 'ok' if not found else f'{len(found)} differences'
            print(f'{directory}: {len(requests)} requests, {status}')
            for line in found[:args.max_report]:
                print('  ' + line)
            failed += bool(found)
    js.close()
    if tally.documented:
        print('documented SDK differences seen: ' + ', '.join(f'{k} x{v}' for k, v in sorted(tally.documented.items())))
    return 1 if failed else 0


def make_case(seed: int, iteration: int, n_requests: int) -> dict:
    r = random.Random(f'{seed}/{iteration}')
    datafile = base_datafile(r)
    labels = mutations.mutate(r, datafile)
    requests = requests_for(r, datafile, n_requests)
    return {'datafile': datafile, 'labels': labels, 'requests': requests}


def save_case(root: str, seed: int, iteration: int, case: dict, text: str) -> None:
    directory = os.path.join(root, f'seed{seed}-it{iteration}')
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'datafile.json'), 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    with open(os.path.join(directory, 'requests.jsonl'), 'w', encoding='utf-8') as f:
        for req in case['requests']:
            f.write(py_oracle.dump_line(req) + '\n')
    with open(os.path.join(directory, 'mutations.json'), 'w', encoding='utf-8') as f:
        f.write(json.dumps(case['labels']) + '\n')


if __name__ == '__main__':
    sys.exit(main())
