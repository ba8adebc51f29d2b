//! Fixtures shared by tests and benchmarks: seeded, generated datafiles of a given size
//! and users with attributes. Deterministic: the same seed gives the same bytes.
#![deny(missing_docs)]

use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64), so fixtures need no RNG crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The shape of a generated datafile.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// A/B experiments (not attached to flags).
    pub experiments: usize,
    /// Flags; each has one feature test and a rollout of 3 rules.
    pub flags: usize,
    /// Audiences of 3–5 conditions each.
    pub audiences: usize,
    /// Variables per flag.
    pub variables_per_flag: usize,
}

impl Shape {
    /// About 20 experiments, 20 flags and 18 audiences: the benchmark's medium datafile.
    pub const MEDIUM: Self = Self { experiments: 20, flags: 20, audiences: 18, variables_per_flag: 3 };
    /// About 1 MB of JSON with 500+ flags.
    pub const LARGE: Self = Self { experiments: 300, flags: 600, audiences: 200, variables_per_flag: 4 };
}

/// The attribute keys generated users carry.
pub const ATTRIBUTES: [&str; 3] = ["country", "age", "app_version"];
const COUNTRIES: [&str; 5] = ["us", "de", "fr", "jp", "br"];

fn condition(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!({"name": "country", "type": "custom_attribute", "match": "exact",
                    "value": COUNTRIES[rng.below(5) as usize]}),
        1 => json!({"name": "age", "type": "custom_attribute", "match": "ge", "value": 18 + rng.below(30)}),
        2 => json!({"name": "age", "type": "custom_attribute", "match": "lt", "value": 30 + rng.below(40)}),
        _ => json!({"name": "app_version", "type": "custom_attribute", "match": "semver_ge",
                    "value": format!("{}.{}", 1 + rng.below(3), rng.below(10))}),
    }
}

fn experiment(rng: &mut Rng, id: u64, key: &str, layer: &str, audiences: usize, variations: usize) -> Value {
    let width = 10_000 / variations as u64;
    let vars: Vec<Value> = (0..variations)
        .map(|v| {
            json!({"id": format!("{}", id * 10 + v as u64 + 1), "key": format!("{key}_v{v}"),
                        "featureEnabled": v > 0, "variables": []})
        })
        .collect();
    let traffic: Vec<Value> = (0..variations)
        .map(|v| {
            json!({"entityId": format!("{}", id * 10 + v as u64 + 1),
                        "endOfRange": if v + 1 == variations { 10_000 } else { width * (v as u64 + 1) }})
        })
        .collect();
    let audience_ids: Vec<String> = if audiences == 0 || rng.chance(0.3) {
        vec![]
    } else {
        vec![format!("{}", 9000 + rng.below(audiences as u64))]
    };
    json!({"id": id.to_string(), "key": key, "layerId": layer, "status": "Running",
           "variations": vars, "trafficAllocation": traffic, "audienceIds": audience_ids,
           "forcedVariations": {}})
}

/// A valid v4 datafile of `shape`, generated from `seed`.
pub fn datafile(shape: Shape, seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let audiences: Vec<Value> = (0..shape.audiences)
        .map(|a| {
            let n = 3 + rng.below(3) as usize;
            let conditions: Vec<Value> = (0..n).map(|_| condition(&mut rng)).collect();
            let op = if rng.chance(0.5) { "and" } else { "or" };
            let mut tree = vec![json!(op)];
            tree.extend(conditions);
            json!({"id": format!("{}", 9000 + a), "name": format!("audience {a}"),
                   "conditions": serde_json::to_string(&tree).unwrap_or_default()})
        })
        .collect();
    let mut experiments: Vec<Value> = (0..shape.experiments)
        .map(|e| {
            let id = 100_000 + e as u64 * 100;
            experiment(&mut rng, id, &format!("exp_{e}"), &format!("{}", id + 99), shape.audiences, 2)
        })
        .collect();
    let mut rollouts = Vec::new();
    let mut flags = Vec::new();
    for f in 0..shape.flags {
        let base = 500_000 + f as u64 * 100;
        let variables: Vec<Value> = (0..shape.variables_per_flag)
            .map(|v| match v % 4 {
                0 => json!({"id": format!("{}", base + 90 + v as u64), "key": format!("enabled_{v}"), "type": "boolean", "defaultValue": "false"}),
                1 => json!({"id": format!("{}", base + 90 + v as u64), "key": format!("limit_{v}"), "type": "integer", "defaultValue": "10"}),
                2 => json!({"id": format!("{}", base + 90 + v as u64), "key": format!("label_{v}"), "type": "string", "defaultValue": "plain"}),
                _ => json!({"id": format!("{}", base + 90 + v as u64), "key": format!("config_{v}"), "type": "json", "defaultValue": "{\"a\":1}"}),
            })
            .collect();
        let mut test =
            experiment(&mut rng, base, &format!("flag_{f}_test"), &format!("{}", base + 98), shape.audiences, 2);
        // The feature test takes 20% of traffic, so most users reach the rollout.
        if let Some(traffic) = test["trafficAllocation"].as_array_mut() {
            traffic[0]["endOfRange"] = json!(1000);
            traffic[1]["endOfRange"] = json!(2000);
        }
        experiments.push(test);
        let rollout_id = format!("{}", base + 97);
        let rules: Vec<Value> = (0..3)
            .map(|r| {
                let rule_id = base + 10 + r * 10;
                let audience = if r == 2 { 0 } else { shape.audiences };
                let mut rule = experiment(&mut rng, rule_id, &format!("flag_{f}_rule_{r}"), &rollout_id, audience, 1);
                if r == 2 {
                    rule["audienceIds"] = json!([]);
                }
                rule
            })
            .collect();
        rollouts.push(json!({"id": rollout_id, "experiments": rules}));
        flags.push(json!({"id": format!("{}", base + 96), "key": format!("flag_{f}"),
                          "experimentIds": [base.to_string()], "rolloutId": rollout_id,
                          "variables": variables}));
    }
    let events: Vec<Value> = (0..5)
        .map(|e| json!({"id": format!("{}", 800 + e), "key": format!("event_{e}"), "experimentIds": []}))
        .collect();
    json!({"version": "4", "accountId": "1001", "projectId": "2002", "revision": "1",
           "anonymizeIP": true, "botFiltering": false, "sendFlagDecisions": true,
           "attributes": ATTRIBUTES.iter().enumerate()
               .map(|(i, k)| json!({"id": format!("{}", 700 + i), "key": k})).collect::<Vec<_>>(),
           "audiences": audiences, "experiments": experiments, "groups": [],
           "featureFlags": flags, "rollouts": rollouts, "events": events})
}

/// `n` users `(id, attributes as a JSON object)` with the three [`ATTRIBUTES`].
pub fn users(n: usize, seed: u64) -> Vec<(String, serde_json::Map<String, Value>)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let mut attrs = serde_json::Map::new();
            attrs.insert("country".into(), json!(COUNTRIES[rng.below(5) as usize]));
            attrs.insert("age".into(), json!(16 + rng.below(60)));
            attrs.insert(
                "app_version".into(),
                json!(format!("{}.{}.{}", 1 + rng.below(3), rng.below(10), rng.below(20))),
            );
            (format!("user-{i}"), attrs)
        })
        .collect()
}

/// Request `i` of a decide_all-heavy `vario eval` stream over `users` (see
/// [`users`]): half `decide_all`, a quarter `decide` of one of 20 flags, a quarter
/// `track` with revenue. The load tool and the benchmark measure the same mix.
pub fn decide_all_heavy_request(i: usize, users: &[(String, serde_json::Map<String, Value>)]) -> Value {
    let (id, attrs) = &users[i % users.len()];
    match i % 4 {
        0 | 1 => json!({"op": "decide_all", "user_id": id, "attributes": attrs}),
        2 => json!({"op": "decide", "flag_key": format!("flag_{}", i % 20), "user_id": id, "attributes": attrs}),
        _ => json!({"op": "track", "event_key": "event_1", "user_id": id, "attributes": attrs,
                    "event_tags": {"revenue": 1200}}),
    }
}
