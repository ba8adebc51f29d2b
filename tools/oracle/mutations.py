"""Mutations of a valid datafile, the ways hand-written and old datafiles differ from
generated ones (used by fuzz.py).

`mutate(r, datafile)` applies zero to three mutations in place and returns their labels,
`kind:detail`; the kind names the class (see the table in tools/oracle/README.md).
"""

from __future__ import annotations


def lst(obj, key):
    """The dicts of a list field, whatever an earlier mutation left there."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def all_experiments(d):
    out = [e for e in lst(d, 'experiments') if isinstance(e, dict)]
    for g in lst(d, 'groups'):
        out += [e for e in lst(g, 'experiments') if isinstance(e, dict)]
    for ro in lst(d, 'rollouts'):
        out += [e for e in lst(ro, 'experiments') if isinstance(e, dict)]
    return out


def all_variations(d):
    return [(e, v) for e in all_experiments(d) for v in lst(e, 'variations') if isinstance(v, dict)]


def all_variables(d):
    return [(f, v) for f in lst(d, 'featureFlags') for v in lst(f, 'variables') if isinstance(v, dict)]


def all_usages(d):
    return [u for _, v in all_variations(d) for u in lst(v, 'variables') if isinstance(u, dict)]


def all_ranges(d):
    out = []
    for e in all_experiments(d):
        out += lst(e, 'trafficAllocation')
    for g in lst(d, 'groups'):
        out += lst(g, 'trafficAllocation')
    return [t for t in out if isinstance(t, dict)]


ODD_VALUES = [None, True, False, 0, 1, -1, 2.5, '', 'x', '1', [], ['a'], {}, {'a': 1}]


def odd_value(r, like):
    """A JSON value of another type than `like`."""
    choices = [v for v in ODD_VALUES if type(v) is not type(like)]
    return r.choice(choices)


# -- duplicates ---------------------------------------------------------------

def dup_variation_id(r, d):
    exps = [e for e in all_experiments(d) if len(lst(e, 'variations')) >= 2]
    if not exps:
        return None
    e = r.choice(exps)
    a, b = r.sample(range(len(e['variations'])), 2)
    e['variations'][b]['id'] = e['variations'][a]['id']
    return f'dup_variation_id:{e.get("key")}'


def dup_variation_id_across(r, d):
    """Two experiments hold a variation with the same id (the SDKs' maps are global)."""
    pairs = all_variations(d)
    if len(pairs) < 2:
        return None
    (e1, v1), (e2, v2) = r.sample(pairs, 2)
    v2['id'] = v1['id']
    return f'dup_variation_id_across:{e1.get("key")}/{e2.get("key")}'


def dup_variation_key(r, d):
    exps = [e for e in all_experiments(d) if len(lst(e, 'variations')) >= 2]
    if not exps:
        return None
    e = r.choice(exps)
    a, b = r.sample(range(len(e['variations'])), 2)
    e['variations'][b]['key'] = e['variations'][a]['key']
    return f'dup_variation_key:{e.get("key")}'


def dup_experiment_key(r, d):
    exps = all_experiments(d)
    if len(exps) < 2:
        return None
    a, b = r.sample(exps, 2)
    b['key'] = a['key']
    return f'dup_experiment_key:{a.get("key")}'


def dup_experiment_id(r, d):
    exps = all_experiments(d)
    if len(exps) < 2:
        return None
    a, b = r.sample(exps, 2)
    b['id'] = a['id']
    return f'dup_experiment_id:{a.get("key")}/{b.get("key")}'


def dup_flag(r, d):
    flags = lst(d, 'featureFlags')
    if not flags:
        return None
    f = r.choice(flags)
    copy_ = {**f, 'id': f['id'] if r.random() < 0.5 else f['id'] + '9'}
    copy_['variables'] = list(reversed(lst(f, 'variables')))
    flags.insert(r.randrange(len(flags) + 1), copy_)
    return f'dup_flag:{f.get("key")}'


def dup_variable_key(r, d):
    flags = [f for f in lst(d, 'featureFlags') if len(lst(f, 'variables')) >= 2]
    if not flags:
        return None
    f = r.choice(flags)
    a, b = r.sample(range(len(f['variables'])), 2)
    f['variables'][b]['key'] = f['variables'][a].get('key')
    return f'dup_variable_key:{f.get("key")}'


def dup_event_key(r, d):
    events = lst(d, 'events')
    if not events:
        return None
    e = r.choice(events)
    events.append({**e, 'id': e['id'] + '7', 'experimentIds': []})
    return f'dup_event_key:{e.get("key")}'


def dup_audience_id(r, d):
    auds = lst(d, 'audiences')
    if len(auds) < 2:
        return None
    a, b = r.sample(auds, 2)
    b['id'] = a['id']
    return 'dup_audience_id'


def dup_attribute_key(r, d):
    attrs = lst(d, 'attributes')
    if not attrs:
        return None
    a = r.choice(attrs)
    attrs.append({'id': a['id'] + '3', 'key': a['key']})
    return f'dup_attribute_key:{a.get("key")}'


# -- values of unexpected JSON types -----------------------------------------------

def odd_default_value(r, d):
    pairs = all_variables(d)
    if not pairs:
        return None
    _, v = r.choice(pairs)
    v['defaultValue'] = odd_value(r, '')
    return f'odd_default_value:{v.get("key")}={type(v["defaultValue"]).__name__}'


def odd_variable_type(r, d):
    pairs = all_variables(d)
    if not pairs:
        return None
    _, v = r.choice(pairs)
    v['type'] = r.choice(['float', 'number', 'String', 'bool', 'object', '', 7, None])
    return f'odd_variable_type:{v.get("key")}={v["type"]!r}'


def odd_sub_type(r, d):
    pairs = all_variables(d)
    if not pairs:
        return None
    _, v = r.choice(pairs)
    v['subType'] = r.choice(['json', 'JSON', 'string', '', None, 1])
    return f'odd_sub_type:{v.get("key")}={v["subType"]!r}'


def odd_usage_value(r, d):
    usages = all_usages(d)
    if not usages:
        return None
    u = r.choice(usages)
    u['value'] = odd_value(r, '')
    return f'odd_usage_value:{type(u["value"]).__name__}'


def odd_feature_enabled(r, d):
    pairs = all_variations(d)
    if not pairs:
        return None
    _, v = r.choice(pairs)
    choice = r.choice(['absent', None, 'true', 1, 0])
    if choice == 'absent':
        v.pop('featureEnabled', None)
    else:
        v['featureEnabled'] = choice
    return f'odd_feature_enabled:{choice!r}'


def odd_status(r, d):
    exps = all_experiments(d)
    e = r.choice(exps) if exps else None
    if e is None:
        return None
    e['status'] = r.choice(['running', 'RUNNING', 'Archived', 'Not started', 'Draft', ''])
    return f'odd_status:{e["status"]}'


def odd_flag_setting(r, d):
    key = r.choice(['sendFlagDecisions', 'botFiltering', 'anonymizeIP'])
    d[key] = r.choice(['true', 1, 0, None, 'false'])
    return f'odd_flag_setting:{key}={d[key]!r}'


def odd_audience_conditions(r, d):
    exps = all_experiments(d)
    auds = [a.get('id') for a in lst(d, 'audiences')]
    if not exps or not auds:
        return None
    e = r.choice(exps)
    e['audienceConditions'] = r.choice([[], ['or'], ['and', auds[0]], auds[0:1], ['not', auds[0]]])
    return f'odd_audience_conditions:{e["audienceConditions"]!r}'


# -- unknown and missing fields and sections ------------------------------------

def unknown_fields(r, d):
    targets = [d] + all_experiments(d) + [v for _, v in all_variations(d)] + \
        [v for _, v in all_variables(d)] + lst(d, 'featureFlags') + lst(d, 'events')
    for t in r.sample(targets, k=min(3, len(targets))):
        t[r.choice(['x_note', 'description', 'metadata', 'unknownField'])] = odd_value(r, 0)
    return 'unknown_fields'


OPTIONAL_TOP = ['typedAudiences', 'rollouts', 'featureFlags', 'integrations', 'anonymizeIP',
                'botFiltering', 'sendFlagDecisions', 'groups']


def missing_section(r, d):
    key = r.choice(OPTIONAL_TOP + ['attributes', 'audiences', 'events'])
    d.pop(key, None)
    return f'missing_section:{key}'


def null_section(r, d):
    key = r.choice(['typedAudiences', 'rollouts', 'featureFlags', 'integrations'])
    d[key] = None
    return f'null_section:{key}'


def missing_field(r, d):
    choices = []
    exps = all_experiments(d)
    if exps:
        choices += [('experiment', r.choice(exps), k) for k in ('type', 'forcedVariations', 'audienceIds', 'layerId')]
    pairs = all_variations(d)
    if pairs:
        choices += [('variation', r.choice(pairs)[1], k) for k in ('variables', 'featureEnabled')]
    flags = lst(d, 'featureFlags')
    if flags:
        choices += [('flag', r.choice(flags), k) for k in ('variables', 'experimentIds', 'rolloutId')]
    vars_ = all_variables(d)
    if vars_:
        choices += [('variable', r.choice(vars_)[1], k) for k in ('defaultValue', 'type', 'key')]
    if not choices:  # an earlier mutation emptied everything this one could remove
        return None
    what, obj, key = r.choice(choices)
    obj.pop(key, None)
    return f'missing_field:{what}.{key}'


# -- empty arrays -------------------------------------------------------------------

def empty_array(r, d):
    choices = []
    for e in all_experiments(d):
        choices += [(e, 'variations'), (e, 'trafficAllocation'), (e, 'audienceIds')]
    for ro in lst(d, 'rollouts'):
        choices.append((ro, 'experiments'))
    for f in lst(d, 'featureFlags'):
        choices += [(f, 'experimentIds'), (f, 'variables')]
    for g in lst(d, 'groups'):
        choices += [(g, 'experiments'), (g, 'trafficAllocation')]
    if not choices:
        return None
    obj, key = r.choice(choices)
    obj[key] = []
    return f'empty_array:{key}'


# -- extreme numbers and traffic ranges --------------------------------------------------

def extreme_range(r, d):
    ranges = all_ranges(d)
    if not ranges:
        return None
    t = r.choice(ranges)
    t['endOfRange'] = r.choice([0, 10000, 10001, -1, 2**31, 2**53 + 1, 10**20, 5000.0, 2500.5, 1e3])
    return f'extreme_range:{t["endOfRange"]!r}'


def odd_range_entity(r, d):
    ranges = all_ranges(d)
    if not ranges:
        return None
    t = r.choice(ranges)
    t['entityId'] = r.choice(['', 'no_such_variation', '0'])
    return f'odd_range_entity:{t["entityId"]!r}'


def shuffled_ranges(r, d):
    exps = [e for e in all_experiments(d) if len(lst(e, 'trafficAllocation')) >= 2]
    if not exps:
        return None
    e = r.choice(exps)
    e['trafficAllocation'].reverse()
    return 'shuffled_ranges'


def extreme_number(r, d):
    pairs = [(f, v) for f, v in all_variables(d) if v.get('type') in ('integer', 'double')]
    if not pairs:
        return None
    _, v = r.choice(pairs)
    v['defaultValue'] = r.choice(['9007199254740993', '-0', '1e308', '0.1e1', '00012', '1.5e-7', '2147483648'])
    return f'extreme_number:{v["type"]}={v["defaultValue"]}'


def odd_revision(r, d):
    key = r.choice(['revision', 'accountId', 'projectId'])
    d[key] = r.choice(['', '0', 'abc', ' 12'])
    return f'odd_revision:{key}'


# -- old shapes ------------------------------------------------------------------

def old_version(r, d):
    version = r.choice(['2', '3'])
    d['version'] = version
    if version == '2' or r.random() < 0.5:
        for key in ('featureFlags', 'rollouts', 'typedAudiences'):
            d.pop(key, None)
    for key in ('sendFlagDecisions', 'integrations'):
        d.pop(key, None)
    for e in all_experiments(d):
        e.pop('type', None)
    return f'old_version:{version}'


MUTATIONS = [
    dup_variation_id, dup_variation_id_across, dup_variation_key, dup_experiment_key, dup_experiment_id,
    dup_flag, dup_variable_key, dup_event_key, dup_audience_id, dup_attribute_key,
    odd_default_value, odd_variable_type, odd_sub_type, odd_usage_value, odd_feature_enabled, odd_status,
    odd_flag_setting, odd_audience_conditions,
    unknown_fields, missing_section, null_section, missing_field,
    empty_array, extreme_range, odd_range_entity, shuffled_ranges, extreme_number, odd_revision,
    old_version,
]


def mutate(r, d) -> list[str]:
    labels = []
    n = r.choices([0, 1, 2, 3], [1, 5, 3, 2])[0]
    for _ in range(n):
        for _attempt in range(5):
            mutation = r.choice(MUTATIONS)
            try:
                label = mutation(r, d)
            except (KeyError, IndexError, TypeError, ValueError):
                # An earlier mutation left this one something it cannot read; whatever it
                # changed before failing is kept and labelled with its kind.
                label = f'{mutation.__name__}:partial'
            if label is not None:
                labels.append(label)
                break
    return labels
