#!/usr/bin/env python3
"""OptimizelyConfig oracle: the official Python SDK's `get_optimizely_config()` as Agent's JSON.

Usage:
    optimizely_config.py --datafile DATAFILE.json --out OPTIMIZELY-CONFIG.json
    optimizely_config.py [--check] DIR...

The first form answers one datafile. The second answers every `DIR/*/datafile.json` and
writes `optimizely-config.json` beside it; with `--check` nothing is written and the
script exits 1 when a committed file differs from a fresh answer.

One `optimizely.Optimizely(datafile=text)` client per datafile (default settings); its
OptimizelyConfig is written with the names and shape of Optimizely Agent's `GET /v1/config`:
camelCase fields, maps by key (keys sorted, as Agent's Go encoder writes them), lists in
the SDK's order, no `datafile` field. Python's attribute values are kept as they are
(variable `type`/`value` and `featureEnabled` as the datafile writes them); a
`featureEnabled` of None (the datafile has none) is left out, as Agent's schema allows.

Requires `optimizely-sdk==5.7.0`. The script refuses to run with any other version and
exits 1 when the SDK builds no OptimizelyConfig for a datafile.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys

from optimizely import optimizely as optimizely_module
from optimizely.version import __version__ as SDK_VERSION

REQUIRED_SDK_VERSION = '5.7.0'
OUTPUT_NAME = 'optimizely-config.json'


class OracleError(Exception):
    """The SDK gave no OptimizelyConfig for a datafile."""


def variable(v) -> dict:
    return {'id': v.id, 'key': v.key, 'type': v.type, 'value': v.value}


def by_key(items: dict, convert) -> dict:
    return {key: convert(items[key]) for key in sorted(items)}


def variation(v) -> dict:
    out = {'id': v.id, 'key': v.key}
    if v.feature_enabled is not None:
        out['featureEnabled'] = v.feature_enabled
    out['variablesMap'] = by_key(v.variables_map, variable)
    return out


def experiment(e) -> dict:
    return {
        'id': e.id,
        'key': e.key,
        'audiences': e.audiences,
        'variationsMap': by_key(e.variations_map, variation),
    }


def feature(f) -> dict:
    return {
        'id': f.id,
        'key': f.key,
        'experimentRules': [experiment(e) for e in f.experiment_rules],
        'deliveryRules': [experiment(e) for e in f.delivery_rules],
        'variablesMap': by_key(f.variables_map, variable),
        'experimentsMap': by_key(f.experiments_map, experiment),
    }


def agent_json(config) -> dict:
    """An OptimizelyConfig as Agent's `GET /v1/config` body."""
    return {
        'environmentKey': config.environment_key,
        'sdkKey': config.sdk_key,
        'revision': config.revision,
        'experimentsMap': by_key(config.experiments_map, experiment),
        'featuresMap': by_key(config.features_map, feature),
        'attributes': [{'id': a.id, 'key': a.key} for a in config.attributes],
        'audiences': [{'id': a.id, 'name': a.name, 'conditions': a.conditions} for a in config.audiences],
        'events': [{'id': e.id, 'key': e.key, 'experimentIds': e.experiment_ids} for e in config.events],
    }


def answer(datafile_path: str) -> str:
    with open(datafile_path, encoding='utf-8') as f:
        text = f.read()
    client = optimizely_module.Optimizely(datafile=text)
    config = client.get_optimizely_config()
    if config is None:
        raise OracleError(f'{datafile_path}: the SDK built no OptimizelyConfig')
    if config.get_datafile() != text:
        raise OracleError(f'{datafile_path}: get_datafile() is not the datafile text')
    return json.dumps(agent_json(config), indent=1, ensure_ascii=False, allow_nan=False) + '\n'


def run_dirs(dirs: list[str], check: bool) -> int:
    datafiles = sorted(p for d in dirs for p in glob.glob(os.path.join(d, '*', 'datafile.json')))
    if not datafiles:
        raise OracleError(f'no */datafile.json under {", ".join(dirs)}')
    stale = []
    for path in datafiles:
        out = os.path.join(os.path.dirname(path), OUTPUT_NAME)
        expected = answer(path)
        if check:
            try:
                with open(out, encoding='utf-8') as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != expected:
                stale.append(out)
        else:
            with open(out, 'w', encoding='utf-8') as f:
                f.write(expected)
    if stale:
        print('OptimizelyConfig fixtures differ from a fresh answer (run tools/oracle/regen.sh):', file=sys.stderr)
        for out in stale:
            print(f'  {out}', file=sys.stderr)
        return 1
    verb = 'are up to date' if check else 'written'
    print(f'{len(datafiles)} OptimizelyConfig fixtures {verb}')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--datafile')
    parser.add_argument('--out')
    parser.add_argument('--check', action='store_true')
    parser.add_argument('dirs', nargs='*', metavar='DIR')
    args = parser.parse_args(argv)

    if SDK_VERSION != REQUIRED_SDK_VERSION:
        print(f'optimizely-sdk {REQUIRED_SDK_VERSION} is required, found {SDK_VERSION}', file=sys.stderr)
        return 2
    # The SDK logs duplicate experiment keys and the like; the fixtures are the answer.
    logging.disable(logging.WARNING)
    try:
        if args.datafile and args.out and not args.dirs and not args.check:
            with open(args.out, 'w', encoding='utf-8') as f:
                f.write(answer(args.datafile))
            return 0
        if args.dirs and not args.datafile and not args.out:
            return run_dirs(args.dirs, args.check)
        parser.error('give --datafile and --out, or [--check] DIR...')
    except OracleError as exc:
        print(f'oracle error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
