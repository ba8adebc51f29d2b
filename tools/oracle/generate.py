#!/usr/bin/env python3
"""Seeded generator of Optimizely v4 datafiles and `vario eval` request streams.

Usage:
    generate.py --out DIR                 # write every case set + datafile-validity files
    generate.py --out DIR --only NAME     # write one case set (directory name)
    generate.py --seed N --profile P --requests K --out DIR --single
                                          # write one ad-hoc case set into DIR

Output (per case set directory): `datafile.json` and `requests.jsonl`. The expected
outputs are produced separately by `run_python_sdk.py` (see regen.sh).

The output depends only on the seed and profile: the generator uses its own
`random.Random(seed)` and never iterates over unordered collections.

Standard library only. The generator deliberately avoids inputs on which the reference
Python SDK (optimizely-sdk 5.7.0) raises, see `spec/compat/README.md` ("Notes").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
HANDWRITTEN = os.path.join(HERE, 'handwritten')

DECIDE_OPTIONS = [
    'DISABLE_DECISION_EVENT', 'ENABLED_FLAGS_ONLY', 'IGNORE_USER_PROFILE_SERVICE',
    'EXCLUDE_VARIABLES', 'INCLUDE_REASONS',
]

# ---------------------------------------------------------------------------
# profiles (feature mixes) and the committed case sets
# ---------------------------------------------------------------------------

BASE_PROFILE = {
    'n_ab': (2, 3),                 # top-level A/B experiments not used by flags
    'n_groups': (0, 1),
    'group_policies': ['overlapping', 'random'],   # the first group is always 'random'
    'n_group_exps': (2, 3),
    'n_flags': (2, 4),
    'n_feature_tests': (0, 2),      # per flag
    'feature_test_in_group': 0.25,
    'rollout_rate': 0.8,            # flag has a rollout
    'rollout_rules': (1, 4),
    'n_audiences': (3, 6),
    'typed_rate': 0.5,              # audience is typed (else legacy string)
    'override_rate': 0.3,           # typed audience shadows a legacy one with the same id
    'tree_depth': 2,
    'leaf_rate': 0.3,               # chance that a subtree is a single leaf
    'max_children': 3,
    'legacy_simple_rate': 0.5,      # legacy audience in the classic ["and", ["or", ["or", leaf]]] shape
    'n_user_attrs': (1, 3),         # attributes in a user's base attribute set
    'odd_condition_rate': 0.12,     # unknown match/type, wrong value kinds, ...
    'odd_id_rate': 0.1,             # non-numeric ids, empty layerId, ...
    'odd_attr_rate': 0.08,          # odd attribute values in requests
    'odd_variable_rate': 0.3,
    'invalid_rate': 0.06,           # requests with unknown keys / invalid inputs
    'scenario_rate': 0.12,          # start a stateful scenario (forced variations, profiles)
    'status_weights': {'Running': 20, 'Paused': 3, 'Launched': 2, 'Archived': 1, 'Not started': 1, 'running': 1},
    'whitelist_rate': 0.3,
    'n_users': 24,
    'n_events': (2, 3),
    'n_variables': (0, 4),
    'send_flag_decisions': [True, False, None],
    'bot_filtering': [True, False, None],
    'anonymize_ip': [True, False, None],
    'big_integer_variables': False,
    'underscore_numbers': False,
    'option_sweep': False,          # decide / decide_all with every combination of options
    'weights': {
        'activate': 14, 'get_variation': 8, 'track': 10, 'is_feature_enabled': 9,
        'get_feature_variable': 9, 'get_enabled_features': 3, 'decide': 20, 'decide_all': 3,
        'set_forced_variation': 6, 'get_forced_variation': 5,
    },
}


def profile(**overrides):
    p = dict(BASE_PROFILE)
    for key, value in overrides.items():
        if key == 'weights':
            w = dict(BASE_PROFILE['weights'])
            w.update(value)
            p['weights'] = w
        else:
            p[key] = value
    return p


PROFILES = {
    'mixed': profile(n_groups=(1, 2)),
    'ab': profile(n_ab=(4, 6), n_flags=(1, 2), whitelist_rate=0.6,
                  weights={'activate': 30, 'get_variation': 20, 'track': 14, 'decide': 8,
                           'decide_all': 1, 'get_enabled_features': 1}),
    'groups': profile(n_ab=(1, 2), n_groups=(3, 3), n_group_exps=(2, 4), feature_test_in_group=0.6,
                      group_policies=['random', 'overlapping'],
                      weights={'activate': 30, 'get_variation': 20, 'decide': 16}),
    'audiences': profile(n_audiences=(8, 11), typed_rate=0.6, override_rate=0.5, tree_depth=3, leaf_rate=0.15,
                         max_children=4, legacy_simple_rate=0.25, n_user_attrs=(2, 5),
                         odd_condition_rate=0.25, n_ab=(4, 5),
                         weights={'activate': 20, 'get_variation': 24, 'decide': 20, 'track': 4}),
    'flags': profile(n_flags=(4, 5), n_feature_tests=(1, 2), n_variables=(2, 5), odd_variable_rate=0.5,
                     big_integer_variables=True, underscore_numbers=True,
                     weights={'is_feature_enabled': 22, 'get_feature_variable': 26, 'get_enabled_features': 5,
                              'activate': 6, 'decide': 14, 'decide_all': 2}),
    'decide': profile(n_flags=(3, 5), send_flag_decisions=[True], option_sweep=True,
                      weights={'decide': 45, 'decide_all': 5, 'activate': 4, 'is_feature_enabled': 6}),
    'rollouts': profile(n_flags=(3, 4), n_feature_tests=(0, 1), rollout_rate=1.0, rollout_rules=(2, 5),
                        send_flag_decisions=[False],
                        weights={'decide': 30, 'is_feature_enabled': 20, 'get_feature_variable': 10,
                                 'activate': 6, 'decide_all': 2}),
    'sticky': profile(scenario_rate=0.45, n_users=14,
                      weights={'activate': 20, 'get_variation': 12, 'decide': 20,
                               'set_forced_variation': 12, 'get_forced_variation': 10}),
    'events': profile(odd_attr_rate=0.25, bot_filtering=[True, False], anonymize_ip=[True, False],
                      underscore_numbers=True,
                      weights={'track': 40, 'activate': 16, 'decide': 14, 'is_feature_enabled': 6}),
    'ids': profile(odd_id_rate=0.45, odd_attr_rate=0.15,
                   weights={'activate': 20, 'decide': 20, 'track': 10}),
    'errors': profile(invalid_rate=0.45, scenario_rate=0.08),
}

# (directory name, seed, profile, number of requests)
CASE_SETS = [
    ('02-ab-experiments', 2002, 'ab', 300),
    ('03-groups', 3003, 'groups', 300),
    ('04-audiences', 4004, 'audiences', 320),
    ('05-feature-variables', 5005, 'flags', 300),
    ('06-decide', 6006, 'decide', 300),
    ('07-rollouts', 7007, 'rollouts', 300),
    ('08-sticky-state', 8008, 'sticky', 320),
    ('09-events-and-tags', 9009, 'events', 300),
    ('10-odd-ids', 10010, 'ids', 280),
    ('11-invalid-requests', 11011, 'errors', 280),
    ('12-mixed', 12012, 'mixed', 360),
]
HANDWRITTEN_SETS = [
    ('01-events-examples', 'events-examples'),
    # Datafiles unlike the generated ones, each answered alike by both official SDKs
    # (tools/oracle/fuzz.py --case-set checks the JavaScript SDK on them too).
    ('13-odd-variable-values', 'odd-variable-values'),
    ('14-duplicate-variation-ids', 'duplicate-variation-ids'),
    ('15-duplicate-experiment-keys', 'duplicate-experiment-keys'),
    # Found by the differential fuzzer (fuzz.py); the two SDKs differ on some requests here
    # (docs/compatibility.md D3, D7), Vario answers like Python.
    ('16-duplicate-experiment-ids', 'duplicate-experiment-ids'),
    ('17-odd-feature-enabled', 'odd-feature-enabled'),
]

# ---------------------------------------------------------------------------
# value pools
# ---------------------------------------------------------------------------

ATTR_KINDS = {
    'device': 'str', 'plan': 'str', 'country': 'str', 'browser': 'str',
    'age': 'num', 'score': 'num', 'visits': 'num',
    'beta': 'bool', 'vip': 'bool',
    'app_version': 'semver', 'os_version': 'semver',
}
STR_VALUES = {
    'device': ['iphone', 'android', 'ipad', 'IPHONE', 'web', ''],
    'plan': ['gold', 'silver', 'bronze', 'Gold', 'gold plan'],
    'country': ['US', 'FR', 'DE', 'us', 'Ísland', '日本'],
    'browser': ['chrome', 'firefox', 'safari', 'chromium', ''],
}
SUBSTRINGS = ['ph', 'i', '', 'old', 'ro', 'US', 'X', '本', 'plan']
INT_VALUES = [0, 1, 17, 18, 21, 30, 42, 65, -5, 100, 2 ** 53, -(2 ** 53)]
FLOAT_VALUES = [1.0, 18.0, 17.5, 30.25, -0.5, 0.001, 64.99]
BIG_NUMBERS = [2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 64, 1e16, -1e300]
COND_NUMBERS = [0, 1, 18, 18.0, 21, 30.5, 65, 100, 2 ** 53]
SEMVER_USER = ['1.2.3', '2.0.0', '2.0', '2.0.1', '2.1', '2', '2.9.9', '1.10.0', '01.2.3',
               '2.0.0-beta', '2.0.0-alpha', '2.0.0-beta.10', '2.0.0-beta.2', '2.0.0+build1',
               '2.0.0-rc.1+build', '3.7.1-', '3.7.1+', '3.7.1', '1.2.3-beta-2', '1.2.3+build-2',
               '2.0.0.0', 'a.b.c', '', 'v2.0.0', '2..0', '2.0.', '-1.0.0', '2.0.0 ', '10.0.0']
SEMVER_TARGET = ['2.0.0', '2.0', '2', '1.2.3', '2.0.0-beta', '2.0.0-beta.2', '2.0.0+build1',
                 '2.0.0-rc.1', '1.0.0-', '3.7.1', '1.2.3-beta', '2.0.0-beta+b1', '10.0', '']
ODD_ATTR_VALUES = [None, True, False, 5, 2.5, '30', [1, 2], {'a': 1}, 2 ** 53 + 1, -(2 ** 53) - 1,
                   2 ** 64, 1e300, 0, '']
UNICODE_USERS = ['', 'élodie', '用户', 'user🙂', 'User With Space', 'ÅSA-ÖZ']

VARIABLE_VALUES = {
    'boolean': (['true', 'false'], ['True', '1', '', 'TRUE', 'yes']),
    'integer': (['3', '0', '-12', '250'], [' 42 ', '+7', '3.0', '1e3', 'abc', '', '007']),
    'double': (['3.5', '0.0', '-0.25', '100'], ['3', '1e3', ' 2.5 ', 'abc', '.5', '1E-2', '']),
    'string': (['hello', 'world', 'on'], ['', ' spaced ', 'ünï©ødé', '{"not": "parsed"}', 'null']),
    'json': (['{"k": 1}', '{"color": "red", "size": 2.5}', '[1, 2, 3]'],
             ['"str"', '42', 'null', 'true', '{"nested": {"a": [true, null, 1.5]}}', 'not json', '{}', '[]',
              '{"big": 12345678901234567890}']),
}
VARIABLE_BIG = {'integer': ['99999999999999999999', '-9223372036854775809'], 'double': ['1e300', '-1.5e-300']}
VARIABLE_UNDERSCORE = {'integer': ['1_000'], 'double': ['1_000.5']}

EVENT_KEYS = ['purchase', 'signup', 'add_to_cart', 'click', 'watch_video']
TAG_REVENUE = [1000, -5, 0, 4200, 10.5, 100.0, '100', True, None, 2 ** 60]
TAG_VALUE = [3, 0, 1.5, 1e20, '3.5', ' 7 ', 'abc', 'inf', 'nan', True, None, [1], {}, -2.25, '1e3']
TAG_VALUE_UNDERSCORE = ['1_000']
TAG_OTHER = [('category', ['shoes', 'books', '']), ('coupon', [None, 'SAVE10']), ('quantity', [1, 3, 2.0]),
             ('nested', [{'value': None, 'x': 1}, {'revenue': None, 'deep': {'tags': None, 'k': 'v'}}, {'a': []}]),
             ('list', [[1, 'a', None], []]), ('flag', [True, False])]


def semver_split(v: str):
    """Python SDK 5.7.0 version splitting, re-stated (None = invalid)."""
    if ' ' in v:
        return None
    pre = '-' in v and ('+' not in v or v.index('-') < v.index('+'))
    build = '+' in v and ('-' not in v or v.index('+') < v.index('-'))
    suffix = None
    prefix = v
    if pre:
        prefix, suffix = v.split('-', 1)
    elif build:
        prefix, suffix = v.split('+', 1)
    if prefix.count('.') > 2:
        return None
    parts = prefix.split('.')
    if any(not p.isdigit() for p in parts):
        return None
    if suffix is not None:
        parts.append(suffix)
    return parts


def semver_raises(target: str, user: str) -> bool:
    """True when the Python SDK raises comparing `user` against `target` (digit vs text part)."""
    t_parts = semver_split(target)
    u_parts = semver_split(user)
    if t_parts is None or u_parts is None:
        return False
    for i, t in enumerate(t_parts):
        if i >= len(u_parts):
            return False
        u = u_parts[i]
        if u.isdigit():
            if not t.isdigit():
                return True
            if int(u) != int(t):
                return False
        elif u != t:
            return False
    return False


# ---------------------------------------------------------------------------
# datafile generation
# ---------------------------------------------------------------------------

class Generator:
    def __init__(self, seed: int, prof: dict) -> None:
        self.r = random.Random(seed)
        self.p = prof
        self.seed = seed
        self._id = 10000 + (seed % 97) * 1000
        self.semver_targets: dict[str, list[str]] = {}
        self.experiments: list[dict] = []        # top-level + grouped (API experiments)
        self.rollout_rules: list[dict] = []
        self.flags: list[dict] = []
        self.flag_of_experiment: dict[str, dict] = {}
        self._cycles: dict[str, int] = {}

    # -- small helpers ------------------------------------------------------
    def rint(self, bounds):
        return self.r.randint(bounds[0], bounds[1])

    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def weighted(self, weights: dict):
        keys = list(weights)
        return self.r.choices(keys, [weights[k] for k in keys])[0]

    def cycle(self, name, seq):
        """Round-robin over seq (random start): rare variants show up in every case set."""
        if name not in self._cycles:
            self._cycles[name] = self.r.randrange(len(seq))
        i = self._cycles[name]
        self._cycles[name] = i + 1
        return seq[i % len(seq)]

    def num_id(self):
        self._id += self.r.randint(1, 40)
        return str(self._id)

    def odd(self):
        return self.chance(self.p['odd_id_rate'])

    def entity_id(self, prefix):
        n = self.num_id()
        return f'{prefix}_{n}' if self.odd() else n

    def variation_id(self):
        n = self.num_id()
        if self.odd():
            return self.pick([f'var_{n}', f'{n}a', f'-{n}', f'0{n}', f' {n}'])
        return n

    # -- attributes and conditions -------------------------------------------
    def gen_attributes(self):
        names = list(ATTR_KINDS)
        self.r.shuffle(names)
        self.used_attrs = sorted(names[:self.r.randint(5, 7)], key=names.index)
        declared = [n for n in self.used_attrs if not self.chance(0.2)]
        if self.chance(0.2):
            declared.append('$opt_user_agent')
        self.declared_attrs = declared
        return [{'id': self.entity_id('attr'), 'key': k} for k in declared]

    def cond_value(self, name, match):
        kind = ATTR_KINDS.get(name, 'str')
        if match in ('gt', 'ge', 'lt', 'le'):
            return self.pick(COND_NUMBERS)
        if match == 'substring':
            return self.pick(SUBSTRINGS)
        if match and match.startswith('semver'):
            v = self.pick(SEMVER_TARGET)
            self.semver_targets.setdefault(name, []).append(v)
            return v
        if match == 'exists':
            return None
        if kind == 'num':
            return self.pick(COND_NUMBERS + FLOAT_VALUES[:3])
        if kind == 'bool':
            return self.chance(0.5)
        if kind == 'semver':
            return self.pick(SEMVER_USER[:6])
        return self.pick(STR_VALUES.get(name, ['x']))

    def leaf(self, legacy: bool):
        name = self.pick(self.used_attrs)
        kind = ATTR_KINDS[name]
        matches = {
            'str': ['exact', 'exact', 'substring', 'exists'],
            'num': ['exact', 'gt', 'ge', 'lt', 'le', 'exists'],
            'bool': ['exact', 'exact', 'exists'],
            'semver': ['semver_eq', 'semver_ge', 'semver_gt', 'semver_le', 'semver_lt', 'exact'],
        }[kind]
        match = self.pick(matches)
        leaf = {'name': name, 'type': 'custom_attribute'}
        if legacy and match == 'exact' and self.chance(0.7):
            pass  # legacy style: no match key
        else:
            leaf['match'] = match
        leaf['value'] = self.cond_value(name, match)
        if self.chance(self.p['odd_condition_rate']):
            oddity = self.cycle('oddity', list(range(9)))
            if oddity == 0:
                leaf['type'] = 'third_party_dimension'
            elif oddity == 1:
                leaf['type'] = self.pick(['other', 'Custom_Attribute'])
            elif oddity == 2:
                del leaf['type']
            elif oddity == 3:
                leaf['match'] = self.pick(['regex', 'EXACT', 'contains'])
            elif oddity == 4:
                leaf['match'] = None
            elif oddity == 5:
                leaf['match'] = 'exact'
                leaf['value'] = self.pick([None, [1], 2 ** 53 + 1, True, '18', 1.5])
            elif oddity == 6:
                leaf['match'] = self.pick(['gt', 'le'])
                leaf['value'] = self.pick(['10', True, 2 ** 53 + 1, None])
            elif oddity == 7:
                leaf['match'] = self.pick(['substring', 'semver_eq'])
                leaf['value'] = self.pick([1, None, True])
            else:
                leaf['match'] = 'qualified'
                leaf['value'] = self.pick(['segment_a', 'segment_b'])
        return leaf

    def audience_tree(self, depth, legacy):
        if depth == 0 or self.chance(self.p['leaf_rate']):
            return self.leaf(legacy)
        if self.chance(0.04):
            return [self.pick(['and', 'or', 'not'])]
        op = self.pick(['and', 'or', 'not', 'implicit'])
        n = 1 if op == 'not' and self.chance(0.8) else self.r.randint(1, self.p['max_children'])
        children = [self.audience_tree(depth - 1, legacy) for _ in range(n)]
        if op == 'implicit':
            return children
        return [op] + children

    def gen_audiences(self):
        legacy, typed = [], []
        self.audience_ids = []
        for i in range(self.rint(self.p['n_audiences'])):
            aid = self.entity_id('aud') if self.odd() else self.num_id()
            self.audience_ids.append(aid)
            name = f'audience {i}'
            if self.chance(self.p['typed_rate']):
                tree = self.audience_tree(self.p['tree_depth'], legacy=False)
                if not isinstance(tree, list) and self.chance(0.5):
                    tree = ['or', tree]
                typed.append({'id': aid, 'name': name, 'conditions': tree})
                if self.chance(self.p['override_rate']):
                    if self.chance(0.6):
                        shadow = ['or', {'name': '$opt_dummy_attribute', 'type': 'custom_attribute',
                                         'value': '$opt_dummy_value'}]
                    else:
                        shadow = self.audience_tree(1, legacy=True)
                    legacy.append({'id': aid, 'name': name + ' (legacy)', 'conditions': json.dumps(shadow)})
            else:
                if self.chance(self.p['legacy_simple_rate']):
                    tree = ['and', ['or', ['or', self.leaf(True)] +
                                    ([self.leaf(True)] if self.chance(0.4) else [])]]
                else:
                    tree = self.audience_tree(self.p['tree_depth'], legacy=True)
                legacy.append({'id': aid, 'name': name, 'conditions': json.dumps(tree, ensure_ascii=False)})
        return legacy, typed

    def rule_tree(self, depth):
        if depth == 0 or self.chance(0.35):
            if self.chance(0.08):
                return self.pick(['99999', 'unknown_audience'])
            return self.pick(self.audience_ids)
        op = self.pick(['and', 'or', 'not', 'implicit'])
        n = 1 if op == 'not' else self.r.randint(1, 3)
        children = [self.rule_tree(depth - 1) for _ in range(n)]
        if op == 'implicit':
            if len(children) == 1 and isinstance(children[0], list):
                # [[...]] makes the SDK's OptimizelyConfig construction raise (see README notes)
                return children[0]
            return children
        return [op] + children

    def targeting(self, exp, everyone=False):
        """Sets audienceIds and maybe audienceConditions on an experiment/rule dict."""
        ids = self.audience_ids
        if everyone:
            exp['audienceIds'] = []
            if self.chance(0.1):
                exp['audienceIds'] = [self.pick(ids)]
            return
        x = self.r.random()
        if x < 0.12 or not ids:
            exp['audienceIds'] = []
        elif x < 0.45:
            exp['audienceIds'] = self.r.sample(ids, min(len(ids), self.r.randint(1, 2)))
        elif x < 0.8:
            tree = self.rule_tree(2)
            if not isinstance(tree, list) and self.chance(0.7):
                tree = [self.pick(['or', 'and']), tree]
            exp['audienceIds'] = [a for a in ids if a in json.dumps(tree)][:2]
            exp['audienceConditions'] = tree
        elif x < 0.9:
            exp['audienceIds'] = [self.pick(ids)]
            exp['audienceConditions'] = []
        else:
            exp['audienceIds'] = [self.pick(ids)]
            exp['audienceConditions'] = None

    # -- traffic ---------------------------------------------------------------
    def traffic(self, entity_ids, full=False):
        """Cumulative ranges over entity ids, with holes / partial traffic / odd entries."""
        n = len(entity_ids)
        mode = 'full' if full else self.weighted({'full': 4, 'partial': 2, 'holes': 2, 'odd': 1, 'tiny': 1})
        alloc = []
        if mode == 'tiny':
            total = self.pick([100, 500, 1000])
        elif mode == 'partial':
            total = self.pick([2500, 5000, 7500, 9000])
        else:
            total = 10000
        cuts = sorted(self.r.sample(range(1, total), n - 1)) if n > 1 else []
        bounds = cuts + [total]
        for eid, end in zip(entity_ids, bounds):
            alloc.append({'entityId': eid, 'endOfRange': end})
        if mode == 'holes' and alloc:
            i = self.r.randrange(len(alloc))
            start = alloc[i - 1]['endOfRange'] if i > 0 else 0
            width = alloc[i]['endOfRange'] - start
            if width > 2:
                mid = start + width // 2
                alloc.insert(i, {'entityId': '', 'endOfRange': mid})
        if mode == 'odd' and alloc:
            k = self.r.randrange(3)
            if k == 0:      # zero-width entry
                i = self.r.randrange(len(alloc))
                prev = alloc[i - 1]['endOfRange'] if i > 0 else 0
                alloc.insert(i, {'entityId': entity_ids[-1], 'endOfRange': prev})
            elif k == 1:    # id that is not a variation of this experiment
                last = alloc[-1]
                if last['endOfRange'] > 2:
                    mid = last['endOfRange'] // 2
                    prev = alloc[-2]['endOfRange'] if len(alloc) > 1 else 0
                    if mid > prev:
                        alloc.insert(len(alloc) - 1, {'entityId': '424242', 'endOfRange': mid})
            else:           # traffic ends early
                alloc[-1]['endOfRange'] = max(alloc[-2]['endOfRange'] if len(alloc) > 1 else 1,
                                              self.pick([6000, 8000]))
        return alloc

    # -- experiments ---------------------------------------------------------
    def status(self):
        weights = self.p['status_weights']
        if self.chance(weights['Running'] / sum(weights.values())):
            return 'Running'
        return self.cycle('status', [s for s in weights if s != 'Running'])

    def variations(self, n, variables=None, feature=False, prefix='v'):
        out = []
        for i in range(n):
            v = {'id': self.variation_id(), 'key': f'{prefix}{i}'}
            if i == 0 and prefix == 'v' and self.chance(0.5):
                v['key'] = 'control'
            if feature:
                if self.chance(0.08):
                    pass  # featureEnabled absent -> false
                else:
                    v['featureEnabled'] = self.chance(0.7)
                if variables:
                    usages = []
                    for var in variables:
                        if self.chance(0.7):
                            usages.append({'id': var['id'], 'value': self.variable_value(var['_vtype'])})
                    if usages or self.chance(0.5):
                        v['variables'] = usages
            elif self.chance(0.5):
                v['featureEnabled'] = self.chance(0.5)
            out.append(v)
        return out

    def whitelist(self, exp):
        fv = {}
        if self.chance(self.p['whitelist_rate']):
            for _ in range(self.r.randint(1, 2)):
                user = self.pick(self.users)
                if self.chance(0.8):
                    fv[user] = self.pick(exp['variations'])['key']
                else:
                    fv[user] = 'no_such_variation'
        return fv

    def experiment(self, key, variables=None, feature=False, layer=None):
        exp = {'id': self.entity_id('exp'), 'key': key}
        if layer is not None:
            exp['layerId'] = layer
        elif self.odd():
            exp['layerId'] = self.pick(['', f'layer_{self.num_id()}'])
        else:
            exp['layerId'] = self.num_id()
        exp['status'] = self.status()
        exp['variations'] = self.variations(self.r.randint(1, 3) if not feature else self.r.randint(2, 3),
                                            variables, feature)
        exp['trafficAllocation'] = self.traffic([v['id'] for v in exp['variations']])
        self.targeting(exp)
        exp['forcedVariations'] = self.whitelist(exp)
        return exp

    def variable_value(self, vtype):
        good, odd = VARIABLE_VALUES[vtype]
        pool = good
        if self.chance(self.p['odd_variable_rate']):
            pool = list(odd)
            if self.p['big_integer_variables']:
                pool += VARIABLE_BIG.get(vtype, [])
            if self.p['underscore_numbers']:
                pool += VARIABLE_UNDERSCORE.get(vtype, [])
            return self.cycle('odd_' + vtype, pool)
        return self.pick(pool)

    def gen_variables(self):
        out = []
        types = ['boolean', 'integer', 'double', 'string', 'json', 'string+json']
        for i in range(self.rint(self.p['n_variables'])):
            t = self.cycle('variable_type', types)
            var = {'id': self.num_id(), 'key': f'var_{i}_{t.replace("+", "_")}'}
            if t == 'string+json':
                var['type'] = 'string'
                var['subType'] = 'json'
                vtype = 'json'
            else:
                var['type'] = t
                vtype = t
            var['_vtype'] = vtype
            var['defaultValue'] = self.variable_value(vtype)
            out.append(var)
        return out

    def rollout(self, flag_key, variables):
        rid = self.entity_id('rollout')
        rules = []
        n = self.rint(self.p['rollout_rules'])
        if self.chance(0.05):
            n = 0
        for i in range(n):
            last = i == n - 1
            layer = rid
            if self.odd():
                layer = self.pick(['', rid])
            rule = {'id': self.entity_id('rule'), 'key': f'{flag_key}_rule_{i}' if not last else f'{flag_key}_everyone',
                    'layerId': layer, 'status': self.weighted({'Running': 6, 'Paused': 1, 'Archived': 1})}
            nv = 1 if self.chance(0.8) else 2
            rule['variations'] = self.variations(nv, variables, feature=True, prefix=f'{flag_key}_r{i}_')
            rule['trafficAllocation'] = self.traffic([v['id'] for v in rule['variations']],
                                                     full=last and self.chance(0.7))
            self.targeting(rule, everyone=last)
            rule['forcedVariations'] = {}
            if self.chance(0.1):
                rule['forcedVariations'] = {self.pick(self.users): rule['variations'][0]['key']}
            rules.append(rule)
            self.rollout_rules.append(rule)
        return {'id': rid, 'experiments': rules}

    def gen_datafile(self):
        self.users = self.gen_user_ids()
        df = {'version': '4', 'accountId': self.num_id(), 'projectId': self.num_id(),
              'revision': str(self.r.randint(1, 999))}
        for key, knob in (('anonymizeIP', 'anonymize_ip'), ('botFiltering', 'bot_filtering'),
                          ('sendFlagDecisions', 'send_flag_decisions')):
            value = self.pick(self.p[knob])
            if value is not None:       # None = key absent
                df[key] = value
        if self.chance(0.5):
            df['environmentKey'] = 'production'
        df.update({'attributes': [], 'audiences': [], 'typedAudiences': [], 'experiments': [], 'groups': [],
                   'featureFlags': [], 'rollouts': [], 'events': [], 'variables': []})
        df['attributes'] = self.gen_attributes()
        legacy, typed = self.gen_audiences()
        df['audiences'] = legacy
        df['typedAudiences'] = typed

        # plain A/B experiments
        for i in range(self.rint(self.p['n_ab'])):
            exp = self.experiment(f'ab_exp_{i}')
            df['experiments'].append(exp)
            self.experiments.append(exp)

        # groups
        group_exps = []
        for g in range(self.rint(self.p['n_groups'])):
            gid = self.entity_id('group')
            policy = 'random' if g == 0 else self.cycle('policy', self.p['group_policies'])
            exps = [self.experiment(f'group{g}_exp_{i}') for i in range(self.rint(self.p['n_group_exps']))]
            group = {'id': gid, 'policy': policy, 'experiments': exps,
                     'trafficAllocation': self.traffic([e['id'] for e in exps])}
            df['groups'].append(group)
            group_exps.extend(exps)
            self.experiments.extend(exps)

        # flags
        for f in range(self.rint(self.p['n_flags'])):
            fkey = f'flag_{f}'
            variables = self.gen_variables()
            exp_ids = []
            for t in range(self.rint(self.p['n_feature_tests'])):
                free_group = [e for e in group_exps if e['id'] not in self.flag_of_experiment]
                if free_group and self.chance(self.p['feature_test_in_group']):
                    exp = self.pick(free_group)
                    exp['variations'] = self.variations(len(exp['variations']), variables, feature=True)
                    exp['trafficAllocation'] = self.traffic([v['id'] for v in exp['variations']])
                    exp['forcedVariations'] = self.whitelist(exp)
                else:
                    exp = self.experiment(f'{fkey}_test_{t}', variables, feature=True)
                    df['experiments'].append(exp)
                    self.experiments.append(exp)
                exp_ids.append(exp['id'])
                self.flag_of_experiment[exp['id']] = fkey
            rollout_id = ''
            if self.chance(self.p['rollout_rate']):
                ro = self.rollout(fkey, variables)
                df['rollouts'].append(ro)
                rollout_id = ro['id']
            flag = {'id': self.num_id(), 'key': fkey, 'rolloutId': rollout_id, 'experimentIds': exp_ids,
                    'variables': variables}
            df['featureFlags'].append(flag)
            self.flags.append(flag)
        if self.chance(0.3):
            fkey = f'flag_{len(self.flags)}_empty'
            flag = {'id': self.num_id(), 'key': fkey, 'rolloutId': '', 'experimentIds': [],
                    'variables': self.gen_variables()[:1]}
            df['featureFlags'].append(flag)
            self.flags.append(flag)

        # events
        keys = self.r.sample(EVENT_KEYS, self.rint(self.p['n_events']))
        for k in keys:
            ids = [e['id'] for e in self.r.sample(self.experiments, min(2, len(self.experiments)))]
            df['events'].append({'id': self.entity_id('evt'), 'key': k, 'experimentIds': ids})
        self.event_keys = keys

        if not typed and self.chance(0.5):
            del df['typedAudiences']
        if self.p['big_integer_variables']:
            self.plant_big_values()
        for flag in self.flags:                 # drop generator-private fields
            for var in flag['variables']:
                var.pop('_vtype', None)
        self.datafile = df
        return df

    def plant_big_values(self):
        """Make sure integer/double variables with out-of-range values are really decided."""
        rules = self.experiments + self.rollout_rules
        for vtype, values in VARIABLE_BIG.items():
            variables = [v for f in self.flags for v in f['variables'] if v['_vtype'] == vtype]
            if not variables:
                continue
            var = variables[0]
            var['defaultValue'] = values[0]
            users = [(exp, variation) for exp in rules for variation in exp['variations']
                     if any(u['id'] == var['id'] for u in variation.get('variables', []))]
            for (exp, variation), value in zip(users, values[1:] + values[:1]):
                for usage in variation['variables']:
                    if usage['id'] == var['id']:
                        usage['value'] = value

    # -- users -------------------------------------------------------------------
    def gen_user_ids(self):
        users = []
        n = self.p['n_users']
        for i in range(n):
            users.append(f'user_{self.r.randint(1, 99999)}')
        for u in UNICODE_USERS:
            if self.chance(0.6):
                users.insert(self.r.randrange(len(users)), u)
        return users

    # ---------------------------------------------------------------------------
    # request generation
    # ---------------------------------------------------------------------------
    def user_value(self, name):
        kind = ATTR_KINDS.get(name, 'str')
        for _ in range(50):
            if self.chance(self.p['odd_attr_rate']):
                v = self.pick(ODD_ATTR_VALUES)
            elif kind == 'num':
                v = self.pick(INT_VALUES + FLOAT_VALUES + (BIG_NUMBERS if self.chance(0.1) else []))
            elif kind == 'bool':
                v = self.chance(0.5)
            elif kind == 'semver':
                v = self.pick(SEMVER_USER)
            else:
                v = self.pick(STR_VALUES[name])
            if isinstance(v, str) and any(semver_raises(t, v) for t in self.semver_targets.get(name, [])):
                continue
            return v
        return None

    def base_attributes(self):
        attrs = {}
        names = list(self.used_attrs)
        self.r.shuffle(names)
        for name in names[:self.rint(self.p['n_user_attrs'])]:
            attrs[name] = self.user_value(name)
        if self.chance(0.15):
            attrs['undeclared_attr'] = self.pick(['x', 1, True])
        if self.chance(0.1):
            attrs['$opt_user_agent'] = self.pick(['Mozilla/5.0', 'bot'])
        return attrs

    def init_users(self):
        self.user_attrs = {u: self.base_attributes() for u in self.users}

    def attributes_for(self, user, allow_invalid=True):
        """Returns (present, value) for the request's attributes field."""
        base = self.user_attrs[user]
        x = self.r.random()
        if x < 0.5:
            return True, dict(base)
        if x < 0.78:
            attrs = dict(base)
            k = self.r.randrange(4)
            if k == 0 and attrs:
                del attrs[self.pick(list(attrs))]
            elif k == 1:
                name = self.pick(self.used_attrs)
                attrs[name] = self.user_value(name)
            elif k == 2:
                pool = ['bk', 'bucket_1', '', 'user_1', self.pick(self.users)]
                if self.chance(0.3):
                    pool += [42, True, None]        # non-string bucketing ids are ignored
                attrs['$opt_bucketing_id'] = self.pick(pool)
            else:
                attrs = dict(reversed(list(attrs.items())))   # same content, other order
            return True, attrs
        if x < 0.86:
            return True, {}
        if x < 0.94:
            return False, None
        return True, None

    def pick_user(self):
        return self.pick(self.users)

    def invalid(self):
        return self.chance(self.p['invalid_rate'])

    def bad_user_id(self):
        return self.pick([None, 42, 3.5, True, ['user_1'], {'id': 'user_1'}])

    def bad_attributes(self):
        # falsy non-objects ([] / 0 / "" / false) are avoided, see README notes
        return self.pick(['device=iphone', [1, 2], 7, True, [{'device': 'iphone'}],
                          {'device': ['iphone']}, {'age': {'years': 30}}])

    def request(self, op, user, fields: dict, attributes=True, allow_invalid=True):
        req = {'op': op, 'user_id': user}
        req.update(fields)
        if attributes:
            present, value = self.attributes_for(user) if isinstance(user, str) and user in self.user_attrs \
                else (True, {})
            if present:
                req['attributes'] = value
        if allow_invalid and self.invalid():
            k = self.r.randrange(3)
            if k == 0:
                req['user_id'] = self.bad_user_id()
            elif k == 1 and attributes:
                req['attributes'] = self.bad_attributes()
        return req

    def experiment_key(self, allow_invalid=True):
        if allow_invalid and self.invalid():
            return self.pick(['no_such_experiment', '', None, 17, 'AB_EXP_0', ' ab_exp_0'] +
                             ([self.pick(self.rollout_rules)['key']] if self.rollout_rules else []))
        if self.rollout_rules and self.chance(0.03):
            return self.pick(self.rollout_rules)['key']    # a rollout rule key (not an experiment)
        return self.pick(self.experiments)['key']

    def flag_key(self, allow_invalid=True):
        if allow_invalid and self.invalid() or not self.flags:
            return self.pick(['no_such_flag', '', None, 5, 'FLAG_0'])
        return self.pick(self.flags)['key']

    def options(self):
        x = self.r.random()
        if self.invalid():
            return True, self.pick(['DISABLE_DECISION_EVENT', ['disable_decision_event'], ['INCLUDE_REASONS', 3],
                                    ['IGNORE_CMAB_CACHE'], {'EXCLUDE_VARIABLES': True}, ['ENABLED_FLAGS_ONLY ']])
        if x < 0.3:
            return False, None
        if x < 0.35:
            return True, None
        if x < 0.42:
            return True, []
        opts = [o for o in DECIDE_OPTIONS if self.chance(0.3)]
        self.r.shuffle(opts)
        if opts and self.chance(0.1):
            extra = self.pick([o for o in opts if o != 'ENABLED_FLAGS_ONLY'] or ['INCLUDE_REASONS'])
            opts.append(extra)   # a duplicate (never ENABLED_FLAGS_ONLY, see README notes)
        return True, opts

    def event_tags(self):
        x = self.r.random()
        if x < 0.25:
            return False, None
        if x < 0.33:
            return True, {}
        if x < 0.37:
            return True, None
        if self.invalid():
            return True, self.pick(['revenue=100', [1, 2], 5, True])
        tags = {}
        items = []
        if self.chance(0.6):
            items.append(('revenue', self.pick(TAG_REVENUE)))
        if self.chance(0.6):
            pool = TAG_VALUE + (TAG_VALUE_UNDERSCORE if self.p['underscore_numbers'] else [])
            items.append(('value', self.pick(pool)))
        for key, values in TAG_OTHER:
            if self.chance(0.25):
                items.append((key, self.pick(values)))
        self.r.shuffle(items)
        for k, v in items:
            tags[k] = v
        return True, tags

    def random_request(self):
        op = self.weighted(self.p['weights'])
        user = self.pick_user()
        if op in ('activate', 'get_variation'):
            return self.request(op, user, {'experiment_key': self.experiment_key()})
        if op == 'track':
            if self.invalid():
                key = self.pick(['no_such_event', '', None, 3, 'Purchase'])
            else:
                key = self.pick(self.event_keys)
            req = self.request(op, user, {'event_key': key})
            present, tags = self.event_tags()
            if present:
                req['event_tags'] = tags
            return req
        if op == 'is_feature_enabled':
            return self.request(op, user, {'feature_key': self.flag_key()})
        if op == 'get_feature_variable':
            fkey = self.flag_key()
            flag = next((f for f in self.flags if f['key'] == fkey), None)
            if flag and flag['variables'] and not self.invalid():
                vkey = self.pick(flag['variables'])['key']
            else:
                others = [v['key'] for f in self.flags for v in f['variables']]
                vkey = self.pick(others + ['no_such_variable', None]) if others else 'no_such_variable'
            return self.request(op, user, {'feature_key': fkey, 'variable_key': vkey})
        if op == 'get_enabled_features':
            return self.request(op, user, {})
        if op == 'decide':
            req = self.request(op, user, {'flag_key': self.flag_key()})
            present, opts = self.options()
            if present:
                req['options'] = opts
            return req
        if op == 'decide_all':
            req = self.request(op, user, {})
            present, opts = self.options()
            if present:
                req['options'] = opts
            return req
        if op == 'set_forced_variation':
            key = self.experiment_key()
            exp = next((e for e in self.experiments + self.rollout_rules if e['key'] == key), None)
            if exp and not self.invalid() and self.chance(0.75):
                vkey = self.pick(exp['variations'])['key']
            else:
                vkey = self.pick([None, None, '', 'no_such_variation', 7, 'CONTROL'])
            return self.request(op, user, {'experiment_key': key, 'variation_key': vkey}, attributes=False)
        if op == 'get_forced_variation':
            return self.request(op, user, {'experiment_key': self.experiment_key()}, attributes=False)
        raise AssertionError(op)

    # -- stateful scenarios -----------------------------------------------------
    def flag_for(self, exp):
        return self.flag_of_experiment.get(exp['id'])

    def scenario(self):
        kind = self.pick(['forced', 'sticky_bucketing_id', 'sticky_attributes', 'ignore_ups', 'whitelist'])
        exp = self.pick(self.experiments)
        user = self.pick_user()
        fkey = self.flag_for(exp)
        attrs = dict(self.user_attrs[user])
        out = []

        def add(op, fields, attributes=None):
            req = {'op': op, 'user_id': user}
            req.update(fields)
            if attributes is not None:
                req['attributes'] = attributes
            out.append(req)

        ek = {'experiment_key': exp['key']}
        if kind == 'forced':
            var = self.pick(exp['variations'])['key']
            add('get_forced_variation', ek)
            add('set_forced_variation', dict(ek, variation_key=var))
            add('get_forced_variation', ek)
            add(self.pick(['activate', 'get_variation']), ek, attrs)
            if fkey:
                add('decide', {'flag_key': fkey}, attrs)
                add('is_feature_enabled', {'feature_key': fkey}, attrs)
            if self.chance(0.5):
                add('set_forced_variation', dict(ek, variation_key=self.pick(['', 'no_such_variation'])))
                add('get_forced_variation', ek)
            add('set_forced_variation', dict(ek, variation_key=None))
            add('get_forced_variation', ek)
            add('activate', ek, attrs)
            add('set_forced_variation', dict(ek, variation_key=None))
        elif kind == 'sticky_bucketing_id':
            for bk in self.r.sample(['bk', 'bucket_1', 'bucket_2', 'x', 'user_7', ''], 3):
                a = dict(attrs)
                a['$opt_bucketing_id'] = bk
                add(self.pick(['activate', 'get_variation']), ek, a)
            if fkey:
                a = dict(attrs, **{'$opt_bucketing_id': 'other'})
                add('decide', {'flag_key': fkey, 'options': ['IGNORE_USER_PROFILE_SERVICE']}, a)
                add('decide', {'flag_key': fkey}, a)
        elif kind == 'sticky_attributes':
            add('activate', ek, attrs)
            add('activate', ek, {})
            add('get_variation', ek, {self.pick(self.used_attrs): None})
            if fkey:
                add('decide', {'flag_key': fkey, 'options': ['IGNORE_USER_PROFILE_SERVICE', 'DISABLE_DECISION_EVENT']},
                    {})
                add('decide', {'flag_key': fkey}, {})
        elif kind == 'ignore_ups':
            if fkey:
                add('decide', {'flag_key': fkey, 'options': ['IGNORE_USER_PROFILE_SERVICE']}, attrs)
                add('decide', {'flag_key': fkey, 'options': ['IGNORE_USER_PROFILE_SERVICE']},
                    dict(attrs, **{'$opt_bucketing_id': 'bk'}))
                add('decide_all', {'options': ['EXCLUDE_VARIABLES', 'DISABLE_DECISION_EVENT']}, attrs)
                add('decide', {'flag_key': fkey}, dict(attrs, **{'$opt_bucketing_id': 'bk'}))
                add('get_feature_variable', {'feature_key': fkey,
                                             'variable_key': (self.pick(self.flag_by_key(fkey)['variables'])['key']
                                                              if self.flag_by_key(fkey)['variables'] else 'none')},
                    {})
            else:
                add('get_variation', ek, attrs)
                add('activate', ek, dict(attrs, **{'$opt_bucketing_id': 'bk'}))
        else:  # whitelist: a whitelisted user with forced variation on top, then cleared
            wl = list(exp.get('forcedVariations', {}).items())
            if wl:
                user = wl[0][0]
            add('activate', ek, attrs)
            var = self.pick(exp['variations'])['key']
            add('set_forced_variation', dict(ek, variation_key=var))
            add('activate', ek, attrs)
            add('set_forced_variation', dict(ek, variation_key=None))
            add('get_variation', ek, {})
        return out

    def flag_by_key(self, key):
        return next(f for f in self.flags if f['key'] == key)

    def option_sweep(self):
        """decide with every subset of the five decide options, decide_all with every other one."""
        out = []
        for mask in range(32):
            opts = [o for i, o in enumerate(DECIDE_OPTIONS) if mask & (1 << i)]
            self.r.shuffle(opts)
            user = self.pick_user()
            present, attrs = self.attributes_for(user)
            for op in (['decide', 'decide_all'] if mask % 2 == 0 else ['decide']):
                req = {'op': op, 'user_id': user}
                if op == 'decide':
                    req['flag_key'] = self.pick(self.flags)['key']
                if present:
                    req['attributes'] = attrs
                req['options'] = opts
                out.append(req)
        return out

    def gen_requests(self, n):
        self.init_users()
        sweep = self.option_sweep() if self.p.get('option_sweep') else []
        reqs = []
        while len(reqs) < n - len(sweep):
            if self.chance(self.p['scenario_rate']):
                reqs.extend(self.scenario())
            else:
                reqs.append(self.random_request())
        reqs = reqs[:n - len(sweep)]
        for req in sweep:       # spread the sweep over the stream
            reqs.insert(self.r.randint(0, len(reqs)), req)
        return reqs


# ---------------------------------------------------------------------------
# datafile validity cases
# ---------------------------------------------------------------------------

def validity_base():
    return {
        'version': '4', 'accountId': '1001', 'projectId': '1002', 'revision': '7',
        'anonymizeIP': False, 'botFiltering': False, 'sendFlagDecisions': True,
        'attributes': [{'id': '3001', 'key': 'age'}],
        'audiences': [{'id': '4001', 'name': 'adults',
                       'conditions': '["and", ["or", {"name": "age", "type": "custom_attribute", '
                                     '"match": "ge", "value": 18}]]'}],
        'typedAudiences': [],
        'events': [{'id': '5001', 'key': 'purchase', 'experimentIds': ['6001']}],
        'groups': [{'id': '7001', 'policy': 'random',
                    'trafficAllocation': [{'entityId': '6101', 'endOfRange': 10000}],
                    'experiments': [{'id': '6101', 'key': 'grouped', 'layerId': '8101', 'status': 'Running',
                                     'variations': [{'id': '6111', 'key': 'a'}],
                                     'trafficAllocation': [{'entityId': '6111', 'endOfRange': 10000}],
                                     'audienceIds': [], 'forcedVariations': {}}]}],
        'experiments': [{'id': '6001', 'key': 'exp', 'layerId': '8001', 'status': 'Running',
                         'variations': [{'id': '6011', 'key': 'on', 'featureEnabled': True,
                                         'variables': [{'id': '9001', 'value': '5'}]},
                                        {'id': '6012', 'key': 'off', 'featureEnabled': False}],
                         'trafficAllocation': [{'entityId': '6011', 'endOfRange': 5000},
                                               {'entityId': '6012', 'endOfRange': 10000}],
                         'audienceIds': ['4001'], 'forcedVariations': {}}],
        'rollouts': [{'id': '8201', 'experiments': [
            {'id': '8211', 'key': 'everyone', 'layerId': '8201', 'status': 'Running',
             'variations': [{'id': '8221', 'key': 'r_on', 'featureEnabled': True}],
             'trafficAllocation': [{'entityId': '8221', 'endOfRange': 10000}],
             'audienceIds': [], 'forcedVariations': {}}]}],
        'featureFlags': [{'id': '9101', 'key': 'flag', 'experimentIds': ['6001'], 'rolloutId': '8201',
                          'variables': [{'id': '9001', 'key': 'n', 'type': 'integer', 'defaultValue': '1'}]}],
    }


def validity_cases():
    """(file name, datafile text). Valid/invalid is decided by the SDK, not here."""
    cases = []

    def mutate(name, fn):
        df = validity_base()
        fn(df)
        cases.append((name, json.dumps(df, indent=1)))

    def raw(name, text):
        cases.append((name, text))

    mutate('valid-base.json', lambda d: None)
    raw('valid-minimal.json', json.dumps({'version': '4', 'accountId': '1', 'projectId': '2', 'revision': '3',
                                          'groups': [], 'experiments': [], 'events': [], 'audiences': [],
                                          'attributes': []}))
    mutate('valid-version-2.json', lambda d: d.update(version='2'))
    mutate('valid-version-3.json', lambda d: d.update(version='3'))
    mutate('valid-unknown-top-level-keys.json', lambda d: d.update(somethingNew={'a': 1}, dimensions=[]))
    mutate('valid-unknown-status.json', lambda d: d['experiments'][0].update(status='SomethingElse'))
    mutate('valid-missing-featureFlags-rollouts-typedAudiences.json',
           lambda d: [d.pop(k) for k in ('featureFlags', 'rollouts', 'typedAudiences')])
    mutate('valid-non-bool-anonymizeIP.json', lambda d: d.update(anonymizeIP='yes'))
    mutate('valid-non-numeric-ids.json', lambda d: (d['experiments'][0].update(id='exp_a', layerId='layer_x'),
                                                    d['events'][0].update(experimentIds=['exp_a']),
                                                    d['featureFlags'][0].update(experimentIds=['exp_a'])))
    mutate('valid-rollout-endOfRange-float.json',
           lambda d: d['rollouts'][0]['experiments'][0]['trafficAllocation'][0].update(endOfRange=10000.0))
    mutate('valid-rolloutId-empty.json', lambda d: d['featureFlags'][0].update(rolloutId=''))
    mutate('valid-audienceConditions-null.json', lambda d: d['experiments'][0].update(audienceConditions=None))
    mutate('valid-audienceConditions-tree.json',
           lambda d: d['experiments'][0].update(audienceConditions=['or', '4001', ['not', '999']]))
    mutate('valid-typed-audience-override.json', lambda d: d['typedAudiences'].append(
        {'id': '4001', 'name': 'adults typed', 'conditions': ['and', {'name': 'age', 'type': 'custom_attribute',
                                                                       'match': 'gt', 'value': 21}]}))
    mutate('valid-extra-entity-keys.json', lambda d: (d['experiments'][0].update(extra=True, type='ab'),
                                                      d['attributes'][0].update(note='x')))
    mutate('valid-variation-without-featureEnabled.json',
           lambda d: d['experiments'][0]['variations'][1].pop('featureEnabled'))
    mutate('valid-empty-arrays.json', lambda d: d.update(experiments=[], groups=[], events=[], audiences=[],
                                                         attributes=[], featureFlags=[], rollouts=[]))
    mutate('valid-region-eu.json', lambda d: d.update(region='EU'))
    mutate('valid-legacy-conditions-scalar-json.json', lambda d: d['audiences'][0].update(conditions='"abc"'))
    mutate('valid-group-policy-overlapping.json', lambda d: d['groups'][0].update(policy='overlapping'))
    mutate('valid-variable-string-subtype-json.json', lambda d: d['featureFlags'][0]['variables'].append(
        {'id': '9002', 'key': 'j', 'type': 'string', 'subType': 'json', 'defaultValue': '{}'}))
    mutate('valid-sendFlagDecisions-absent-botFiltering-absent.json',
           lambda d: [d.pop(k) for k in ('sendFlagDecisions', 'botFiltering', 'anonymizeIP')])
    mutate('valid-rollout-rule-endOfRange-string.json',
           lambda d: d['rollouts'][0]['experiments'][0]['trafficAllocation'][0].update(endOfRange='10000'))

    raw('invalid-not-json.json', '{"version": "4", ')
    raw('invalid-root-array.json', '[]')
    raw('invalid-empty-object.json', '{}')
    for key in ('version', 'accountId', 'projectId', 'revision', 'groups', 'attributes', 'audiences', 'events',
                'experiments'):
        mutate(f'invalid-missing-{key}.json', lambda d, key=key: d.pop(key))
    mutate('invalid-version-number.json', lambda d: d.update(version=4))
    mutate('invalid-version-5.json', lambda d: d.update(version='5'))
    mutate('invalid-version-1.json', lambda d: d.update(version='1'))
    mutate('invalid-accountId-number.json', lambda d: d.update(accountId=1001))
    mutate('invalid-revision-number.json', lambda d: d.update(revision=7))
    mutate('invalid-endOfRange-float.json',
           lambda d: d['experiments'][0]['trafficAllocation'][0].update(endOfRange=5000.0))
    mutate('invalid-endOfRange-string.json',
           lambda d: d['experiments'][0]['trafficAllocation'][0].update(endOfRange='5000'))
    mutate('invalid-group-endOfRange-float.json',
           lambda d: d['groups'][0]['trafficAllocation'][0].update(endOfRange=10000.0))
    mutate('invalid-flag-unknown-experiment.json', lambda d: d['featureFlags'][0].update(experimentIds=['404']))
    mutate('invalid-flag-unknown-rollout.json', lambda d: d['featureFlags'][0].update(rolloutId='404'))
    mutate('invalid-rolloutId-null.json', lambda d: d['featureFlags'][0].update(rolloutId=None))
    mutate('invalid-legacy-conditions-not-json.json',
           lambda d: d['audiences'][0].update(conditions='["and", {"name": "age"'))
    mutate('invalid-legacy-conditions-array.json',
           lambda d: d['audiences'][0].update(conditions=['and', {'name': 'age'}]))
    mutate('invalid-experiment-missing-forcedVariations.json', lambda d: d['experiments'][0].pop('forcedVariations'))
    mutate('invalid-experiment-missing-layerId.json', lambda d: d['experiments'][0].pop('layerId'))
    mutate('invalid-experiment-status-number.json', lambda d: d['experiments'][0].update(status=1))
    mutate('invalid-rollout-rule-missing-audienceIds.json',
           lambda d: d['rollouts'][0]['experiments'][0].pop('audienceIds'))
    mutate('invalid-variation-missing-key.json', lambda d: d['experiments'][0]['variations'][0].pop('key'))
    mutate('invalid-rollout-variation-missing-id.json',
           lambda d: d['rollouts'][0]['experiments'][0]['variations'][0].pop('id'))
    mutate('invalid-variable-missing-defaultValue.json',
           lambda d: d['featureFlags'][0]['variables'][0].pop('defaultValue'))
    mutate('invalid-flag-missing-variables.json', lambda d: d['featureFlags'][0].pop('variables'))
    mutate('invalid-attribute-missing-id.json', lambda d: d['attributes'][0].pop('id'))
    mutate('invalid-event-missing-experimentIds.json', lambda d: d['events'][0].pop('experimentIds'))
    mutate('invalid-group-missing-policy.json', lambda d: d['groups'][0].pop('policy'))
    mutate('invalid-typed-audience-missing-name.json', lambda d: d['typedAudiences'].append(
        {'id': '4002', 'conditions': ['or', {'name': 'age', 'type': 'custom_attribute', 'value': 1}]}))
    mutate('invalid-integration-missing-key.json', lambda d: d.update(integrations=[{'host': 'h'}]))
    return cases


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def dump_line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(',', ':'), allow_nan=False)


def write_case(directory, datafile, requests):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'datafile.json'), 'w', encoding='utf-8', newline='\n') as f:
        f.write(json.dumps(datafile, indent=1, ensure_ascii=False, allow_nan=False) + '\n')
    with open(os.path.join(directory, 'requests.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        for req in requests:
            f.write(dump_line(req) + '\n')


def generate_case(seed, profile_name, n_requests):
    gen = Generator(seed, PROFILES[profile_name])
    datafile = gen.gen_datafile()
    requests = gen.gen_requests(n_requests)
    return datafile, requests


def write_handwritten(out_root, dirname, stem):
    directory = os.path.join(out_root, dirname)
    os.makedirs(directory, exist_ok=True)
    shutil.copyfile(os.path.join(HANDWRITTEN, f'{stem}.datafile.json'), os.path.join(directory, 'datafile.json'))
    shutil.copyfile(os.path.join(HANDWRITTEN, f'{stem}.requests.jsonl'), os.path.join(directory, 'requests.jsonl'))


def write_validity(out_root):
    directory = os.path.join(out_root, 'datafile-validity')
    os.makedirs(directory, exist_ok=True)
    for name, text in validity_cases():
        with open(os.path.join(directory, name), 'w', encoding='utf-8', newline='\n') as f:
            f.write(text if text.endswith('\n') else text + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description='Generate differential-test case sets.')
    parser.add_argument('--out', required=True, help='output root (e.g. spec/compat)')
    parser.add_argument('--only', help='write only this case set directory name')
    parser.add_argument('--single', action='store_true', help='write one ad-hoc case set into --out')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--profile', default='mixed', choices=sorted(PROFILES))
    parser.add_argument('--requests', type=int, default=300)
    args = parser.parse_args(argv)

    if args.single:
        write_case(args.out, *generate_case(args.seed, args.profile, args.requests))
        return 0
    for dirname, stem in HANDWRITTEN_SETS:
        if args.only in (None, dirname):
            write_handwritten(args.out, dirname, stem)
    for dirname, seed, profile_name, n in CASE_SETS:
        if args.only in (None, dirname):
            write_case(os.path.join(args.out, dirname), *generate_case(seed, profile_name, n))
    if args.only in (None, 'datafile-validity'):
        write_validity(args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
