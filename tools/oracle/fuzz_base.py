"""Plain datafiles and request streams for the differential fuzzer (fuzz.py).

The datafile is deliberately ordinary (numeric ids, simple audiences, well-formed variable
values): the two official SDKs answer it alike, so every difference the fuzzer finds comes
from a mutation. Everything is drawn from the `random.Random` given, so a case is a pure
function of seed and iteration.
"""

from __future__ import annotations

import json

ATTRIBUTES = {
    'country': ['US', 'FR', 'DE'],
    'age': [5, 17, 18, 30, 64.5],
    'vip': [True, False],
    'plan': ['free', 'gold plan', 'silver'],
}
VARIABLE_VALUES = {
    'boolean': ['true', 'false'],
    'integer': ['0', '7', '-12', '1000'],
    'double': ['0.5', '2.25', '-1.0', '100'],
    'string': ['hello', 'world', ''],
    'json': ['{"a": 1}', '{"color": "red", "size": 2.5}', '{}'],
}


class Ids:
    def __init__(self, r) -> None:
        self.r = r
        self.n = 1000 + r.randrange(1000) * 100

    def __call__(self) -> str:
        self.n += self.r.randint(1, 9)
        return str(self.n)


def traffic(r, entity_ids, total=10000):
    """Cumulative ranges over entity_ids, sometimes leaving part of the traffic out."""
    if r.random() < 0.2:
        total = r.choice([0, 2500, 5000, 9999])
    cuts = sorted(r.randint(0, total) for _ in range(len(entity_ids) - 1)) + [total]
    return [{'entityId': e, 'endOfRange': c} for e, c in zip(entity_ids, cuts)]


def condition(r):
    name = r.choice(list(ATTRIBUTES))
    value = r.choice(ATTRIBUTES[name])
    if isinstance(value, bool):
        return {'name': name, 'type': 'custom_attribute', 'match': 'exact', 'value': value}
    if isinstance(value, (int, float)):
        match = r.choice(['gt', 'lt', 'ge', 'le', 'exact'])
        return {'name': name, 'type': 'custom_attribute', 'match': match, 'value': value}
    match = r.choice(['exact', 'substring', 'exists'])
    cond = {'name': name, 'type': 'custom_attribute', 'match': match, 'value': value}
    if match == 'exists':
        del cond['value']
    return cond


def audiences(r, ids):
    out = []
    for _ in range(r.randint(1, 4)):
        tree = [r.choice(['and', 'or'])] + [condition(r) for _ in range(r.randint(1, 2))]
        out.append({'id': ids(), 'name': f'aud_{len(out)}', 'conditions': json.dumps(['and', tree])})
    return out


def experiment(r, ids, key, layer_id, audience_ids, variables=None, rule_type=None, n_variations=None):
    variations = []
    for i in range(n_variations or r.randint(1, 3)):
        v = {'id': ids(), 'key': f'{key}_v{i}', 'featureEnabled': r.random() < 0.7}
        if variables is not None:
            v['variables'] = [{'id': var['id'], 'value': r.choice(VARIABLE_VALUES[var_type(var)])}
                              for var in variables if r.random() < 0.7]
        variations.append(v)
    exp = {
        'id': ids(), 'key': key, 'layerId': layer_id,
        'status': r.choices(['Running', 'Paused', 'Launched'], [8, 1, 1])[0],
        'variations': variations,
        'trafficAllocation': traffic(r, [v['id'] for v in variations]),
        'audienceIds': r.sample(audience_ids, k=min(len(audience_ids), r.randint(0, 1))),
        'forcedVariations': {},
    }
    if r.random() < 0.3:
        exp['forcedVariations'] = {f'user_{r.randrange(6)}': r.choice(variations)['key']}
    if rule_type:
        exp['type'] = rule_type
    return exp


def var_type(var):
    return 'json' if var.get('subType') == 'json' else var['type']


def base_datafile(r) -> dict:
    ids = Ids(r)
    attrs = [{'id': ids(), 'key': k} for k in ATTRIBUTES]
    auds = audiences(r, ids)
    aud_ids = [a['id'] for a in auds]
    events = [{'id': ids(), 'key': f'event_{i}', 'experimentIds': []} for i in range(r.randint(1, 2))]
    experiments, rollouts, flags, groups = [], [], [], []
    for f in range(r.randint(1, 3)):
        variables = []
        for i in range(r.randint(0, 3)):
            t = r.choice(list(VARIABLE_VALUES))
            var = {'id': ids(), 'key': f'var_{i}', 'type': t, 'defaultValue': r.choice(VARIABLE_VALUES[t])}
            if t == 'json' and r.random() < 0.3:
                var.update(type='string', subType='json')
            variables.append(var)
        tests = [experiment(r, ids, f'flag_{f}_test_{t}', ids(), aud_ids, variables, 'a/b')
                 for t in range(r.randint(0, 2))]
        experiments.extend(tests)
        rollout_id = ids()
        rules = [experiment(r, ids, f'flag_{f}_rule_{k}', rollout_id, aud_ids, variables, 'rollout', 1)
                 for k in range(r.randint(0, 2))]
        everyone = experiment(r, ids, f'flag_{f}_everyone', rollout_id, [], variables, 'rollout', 1)
        everyone['status'] = 'Running'
        rules.append(everyone)
        rollouts.append({'id': rollout_id, 'experiments': rules})
        flags.append({'id': ids(), 'key': f'flag_{f}', 'experimentIds': [e['id'] for e in tests],
                      'rolloutId': rollout_id, 'variables': variables})
    for a in range(r.randint(0, 2)):
        experiments.append(experiment(r, ids, f'ab_{a}', ids(), aud_ids))
    if r.random() < 0.4:
        group_exps = [experiment(r, ids, f'grouped_{g}', ids(), aud_ids) for g in range(2)]
        gid = ids()
        for e in group_exps:
            e['groupId'] = gid
        groups.append({'id': gid, 'policy': 'random', 'experiments': group_exps,
                       'trafficAllocation': traffic(r, [e['id'] for e in group_exps])})
    for e in events:
        e['experimentIds'] = [x['id'] for x in experiments if r.random() < 0.5]
    return {
        'version': '4', 'accountId': str(ids()), 'projectId': str(ids()), 'revision': str(r.randint(1, 99)),
        'anonymizeIP': r.random() < 0.5, 'botFiltering': r.random() < 0.3,
        'sendFlagDecisions': r.random() < 0.7,
        'attributes': attrs, 'audiences': auds, 'typedAudiences': [], 'events': events,
        'experiments': experiments, 'groups': groups, 'rollouts': rollouts, 'featureFlags': flags,
        'integrations': [],
    }


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------

def strings(values):
    return [v for v in values if isinstance(v, str)]


def each(section):
    return [x for x in section if isinstance(x, dict)] if isinstance(section, list) else []


def keys_of(datafile):
    """The keys a request can name, read defensively: the datafile may be mutated."""
    experiments = each(datafile.get('experiments'))
    for group in each(datafile.get('groups')):
        experiments += each(group.get('experiments'))
    rules = [e for ro in each(datafile.get('rollouts')) for e in each(ro.get('experiments'))]
    variations = {}
    for e in experiments + rules:
        if isinstance(e.get('key'), str):
            variations.setdefault(e['key'], []).extend(strings(v.get('key') for v in each(e.get('variations'))))
    flags = each(datafile.get('featureFlags'))
    return {
        'experiments': strings(e.get('key') for e in experiments) or ['missing_exp'],
        'rules': strings(e.get('key') for e in rules),
        'variations': variations,
        'flags': strings(f.get('key') for f in flags) or ['missing_flag'],
        'variables': {f['key']: strings(v.get('key') for v in each(f.get('variables')))
                      for f in flags if isinstance(f.get('key'), str)},
        'events': strings(e.get('key') for e in each(datafile.get('events'))) or ['missing_event'],
    }


DECIDE_OPTIONS = ['DISABLE_DECISION_EVENT', 'ENABLED_FLAGS_ONLY', 'IGNORE_USER_PROFILE_SERVICE',
                  'EXCLUDE_VARIABLES']
WEIGHTS = {'decide': 24, 'decide_all': 6, 'activate': 12, 'get_variation': 8, 'track': 6,
           'is_feature_enabled': 8, 'get_feature_variable': 10, 'get_enabled_features': 3,
           'set_forced_variation': 14, 'get_forced_variation': 6}


def requests_for(r, datafile, n) -> list[dict]:
    k = keys_of(datafile)
    ops = list(WEIGHTS)
    out = []
    for _ in range(n):
        op = r.choices(ops, [WEIGHTS[o] for o in ops])[0]
        user = f'user_{r.randrange(6)}'
        attrs = {name: r.choice(vals) for name, vals in ATTRIBUTES.items() if r.random() < 0.6}
        req = {'op': op, 'user_id': user}
        if op in ('activate', 'get_variation', 'set_forced_variation', 'get_forced_variation'):
            exp = r.choice(k['experiments'] + k['rules'] if k['rules'] and r.random() < 0.4 else k['experiments'])
            req['experiment_key'] = exp
            if op == 'set_forced_variation':
                choices = k['variations'].get(exp) or ['missing_variation']
                req['variation_key'] = None if r.random() < 0.1 else r.choice(choices)
        if op == 'track':
            req['event_key'] = r.choice(k['events'])
            if r.random() < 0.5:
                req['event_tags'] = {'revenue': r.choice([100, 250]), 'value': r.choice([1.5, 3])}
        if op in ('is_feature_enabled', 'get_feature_variable', 'decide'):
            flag = r.choice(k['flags'])
            req['feature_key' if op != 'decide' else 'flag_key'] = flag
            if op == 'get_feature_variable':
                req['variable_key'] = r.choice(k['variables'].get(flag) or ['missing_variable'])
        if op in ('decide', 'decide_all') and r.random() < 0.4:
            req['options'] = r.sample(DECIDE_OPTIONS, k=r.randint(0, 2))
        if op not in ('set_forced_variation', 'get_forced_variation'):
            req['attributes'] = attrs
        out.append(req)
    return out
