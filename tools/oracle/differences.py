"""Where the two official SDKs answer differently, as code (used by fuzz.py).

Every entry here is a row of the table "Where the official SDKs disagree" in
docs/compatibility.md, with the same id; keep the two in step. `explain` returns the id of
the entry that covers a difference, or None: the fuzzer reports an unexplained difference
then. Vario answers like the Python SDK in every entry (the fuzzer checks that too).
"""

from __future__ import annotations


def each(section):
    return [x for x in section if isinstance(x, dict)] if isinstance(section, list) else []


def rollout_rule_keys(datafile):
    return {e.get('key') for ro in each(datafile.get('rollouts')) for e in each(ro.get('experiments'))}


def kinds(labels):
    return {label.split(':')[0] for label in labels}


# -- differences on any datafile --------------------------------------------------------

def legacy_api_on_delivery_rule(request, datafile, python, js, **_):
    """activate / get_variation naming a rollout rule: Python decides the rule as an
    experiment, JavaScript answers null."""
    return (request.get('op') in ('activate', 'get_variation')
            and request.get('experiment_key') in rollout_rule_keys(datafile)
            and js.get('variation_key') is None)


def clearing_unset_forced_variation(request, python, js, **_):
    """set_forced_variation(…, null) for a user with nothing forced: Python true, JS false."""
    return (request.get('op') == 'set_forced_variation' and request.get('variation_key') is None
            and python.get('ok') is True and js.get('ok') is False)


RESPONSE_RULES = [
    ('D1', legacy_api_on_delivery_rule),
    ('D2', clearing_unset_forced_variation),
]

# -- differences that only mutated datafiles show: (id, mutation kinds, ops or None) ------
# A difference on a datafile that carries one of the kinds is explained by the entry.

MUTATION_RULES = [
    ('D3', ['dup_experiment_id'], None),
    ('D4', ['dup_variation_id_across'], None),
    ('D5', ['dup_variation_key'], None),
    ('D6', ['dup_experiment_key'], None),
    ('D7', ['odd_feature_enabled'], None),
    ('D8', ['extreme_number'], None),
    ('D9', ['odd_default_value', 'odd_usage_value'], None),
]

# Loading: (id, mutation kinds, python accepts, javascript accepts)
VALIDITY_RULES = [
    ('V1', None, False, True),
]


def explain(kind, labels, datafile, **facts):
    present = kinds(labels)
    if kind == 'validity':
        for rule_id, rule_kinds, py, js in VALIDITY_RULES:
            if facts['python'] == py and facts['js'] == js and (rule_kinds is None or present & set(rule_kinds)):
                return rule_id
        return None
    request = facts['request']
    for rule_id, predicate in RESPONSE_RULES:
        if predicate(request=request, datafile=datafile, python=facts['python'], js=facts['js']):
            return rule_id
    for rule_id, rule_kinds, ops in MUTATION_RULES:
        if present & set(rule_kinds) and (ops is None or request.get('op') in ops):
            return rule_id
    return None
