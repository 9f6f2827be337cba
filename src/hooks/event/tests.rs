//! Unit tests of `crate::hooks::event`.

use super::*;

#[test]
fn names_choose_the_kind_of_event() {
    assert_eq!(
        HookEvent::parse("routable"),
        Ok(HookEvent::State("routable"))
    );
    assert_eq!(
        HookEvent::parse("configured"),
        Ok(HookEvent::State("configured"))
    );
    assert_eq!(HookEvent::parse("manager"), Ok(HookEvent::Manager));
    assert_eq!(
        HookEvent::parse("routes-modified"),
        Ok(HookEvent::RoutesModified)
    );
    let named = HookEvent::parse("sec").unwrap();
    assert_eq!(named.as_str(), "sec");
    assert_eq!(named.state(), None);
    assert_eq!(
        HookEvent::parse("../x"),
        Err(InvalidEventName("../x".into()))
    );
    assert!(HookEvent::parse("").is_err());
}

#[test]
fn only_states_set_state() {
    assert_eq!(HookEvent::State("no-carrier").state(), Some("no-carrier"));
    assert_eq!(HookEvent::Manager.state(), None);
    assert_eq!(HookEvent::RoutesModified.state(), None);
}

#[test]
fn every_created_directory_is_an_event_of_ours() {
    for dir in EVENT_DIRS {
        let stem = dir.trim_end_matches(".d");
        let event = HookEvent::parse(stem).unwrap();
        assert_eq!(event.dir_name(), dir);
        assert!(
            !matches!(event, HookEvent::Named(_)),
            "{dir} is not a state, manager or routes-modified"
        );
    }
}
