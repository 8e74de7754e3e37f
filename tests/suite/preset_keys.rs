//! The module tree of each preset expects exactly the tensors of the official release
//! (`reference-keys/keys-*.txt`), names and shapes, built without allocating any weight.

use std::collections::BTreeMap;

use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::{ModelConfig, Variant};

fn reference_keys(variant: Variant) -> BTreeMap<String, Vec<usize>> {
    let path = crate::common::shared_dir().join(format!("reference-keys/keys-{}.txt", variant.name()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split('\t');
            let name = parts.next().unwrap().to_owned();
            let shape = parts.next().unwrap_or("[]").trim_matches(|c| c == '[' || c == ']');
            let shape = shape.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
            (name, shape)
        })
        .collect()
}

#[test]
fn every_preset_expects_exactly_the_official_keys() {
    for variant in Variant::ALL {
        let want = reference_keys(variant);
        let got: BTreeMap<String, Vec<usize>> = DynamiCrafter::expected_keys(&ModelConfig::preset(variant))
            .into_iter()
            .map(|e| (e.name, e.shape))
            .collect();
        let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).take(10).collect();
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).take(10).collect();
        let wrong: Vec<_> = want
            .iter()
            .filter(|(k, s)| got.get(*k).is_some_and(|g| g != *s))
            .map(|(k, s)| (k, s, &got[k]))
            .take(10)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && wrong.is_empty(),
            "{}: not expected by the model {missing:?}; expected but not official {extra:?}; shape (official, ours) {wrong:?}",
            variant.name()
        );
        assert_eq!(got.len(), want.len(), "{}", variant.name());
    }
}
