//! Unit tests of [`super`].

use super::*;

fn seen(kind: Kind, id: &str, owned: bool) -> Seen {
    Seen {
        kind,
        name: "n".into(),
        id: (!kind.names_are_unique()).then(|| id.to_string()),
        owned,
        other_stack: None,
    }
}

#[test]
fn owned_resources_need_no_decision() {
    let all = [seen(Kind::Role, "", true), seen(Kind::RestApi, "a", true)];
    assert_eq!(decide(&all, false), Ok(Decision::default()));
}

#[test]
fn every_foreign_resource_is_refused_at_once_without_adopt() {
    let all = [
        seen(Kind::Role, "", false),
        seen(Kind::Bucket, "", false),
        seen(Kind::RestApi, "a", false),
        seen(Kind::RestApi, "b", false),
        seen(Kind::Function, "", true),
    ];
    let refused = decide(&all, false).unwrap_err();
    let kinds: Vec<Kind> = refused.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::Bucket, Kind::Role, Kind::RestApi]);
    let decision = decide(&all, true).unwrap();
    assert_eq!(decision.adopt.len(), 3);
    assert_eq!(decision.left_alone, [seen(Kind::RestApi, "b", false)]);
}

#[test]
fn untagged_duplicates_are_left_alone_when_the_stack_owns_one() {
    let all = [
        seen(Kind::ApiKey, "old", false),
        seen(Kind::ApiKey, "mine", true),
    ];
    for adopt in [false, true] {
        let decision = decide(&all, adopt).unwrap();
        assert!(decision.adopt.is_empty());
        assert_eq!(decision.left_alone, [seen(Kind::ApiKey, "old", false)]);
    }
}

#[test]
fn another_stacks_resource_is_never_adopted() {
    let mut other = seen(Kind::Role, "", false);
    other.other_stack = Some("prod".into());
    assert!(decide(std::slice::from_ref(&other), true).is_err());
}
