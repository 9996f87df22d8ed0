//! What a supervisor decides when a child realm crashes, as a plain function.
//!
//! [`decide`] (a supervising realm's children) and [`decide_root`] (a top-level window,
//! supervised by the runtime) take the facts (the child's policy, the supervisor's
//! [`SupervisorSpec`], its restart history, the time) and return the [`Action`]s to carry
//! out, in order. They touch no realm and no actor: [`crate::supervision`] carries the
//! actions out on the realms; the unit tests below drive the decisions alone, the way
//! OTP's supervisor or kameo's separate the restart decision from the process.
//!
//! The rules (see [`crate::supervision`] for what a user sees):
//! - policy `Stop`: stop the child (`Stopped`);
//! - policy `Escalate`: stop it, `Stopped`, `Escalated { to: supervisor }`, crash the
//!   supervisor with `"escalated: <child> crashed: <message>"`;
//! - policy `Reload`: one restart more against the intensity; past it, as `Escalate` but
//!   with the message `"restart intensity exceeded (N in T): ..."`; within it, restart the
//!   targets of the strategy (the crashed child only; every child; the crashed child and
//!   every child created after it), whatever the siblings' own policies.

use std::collections::VecDeque;
use std::time::Duration;

use crate::kernel::lifecycle::{
    Intensity, LifecycleEvent, RestartPolicy, Strategy, SupervisorSpec,
};

/// The restart times of one supervisor, for its intensity (a sliding window).
#[derive(Debug, Default, Clone)]
pub(crate) struct RestartHistory {
    restarts: VecDeque<Duration>,
}

impl RestartHistory {
    /// Records a restart at `now` if `intensity` allows one more; `false` means "give up"
    /// (and records nothing).
    pub(crate) fn allow(&mut self, now: Duration, intensity: Intensity) -> bool {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > intensity.within)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() as u32 >= intensity.max_restarts {
            return false;
        }
        self.restarts.push_back(now);
        true
    }
}

/// What the supervisor knows of one child (an iframe or a worker it created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildInfo {
    /// The child's id; ids grow in creation order.
    pub(crate) id: u64,
    /// Its name, for lifecycle events.
    pub(crate) name: String,
    /// Its restart policy.
    pub(crate) policy: RestartPolicy,
}

/// One step of a supervision decision, carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Tell the supervising realm's listeners only (the runtime's log already has it).
    Tell(LifecycleEvent),
    /// Record the event: the runtime's log and the supervising realm's listeners.
    Record(LifecycleEvent),
    /// Stop the child (close the window, terminate the worker).
    Stop {
        /// The child's id.
        child: u64,
    },
    /// Restart the child (a new document at the same URL, the worker's script again).
    Restart {
        /// The child's id.
        child: u64,
        /// Why, for the log.
        reason: String,
    },
    /// Crash the supervisor itself (its own supervisor decides next).
    CrashSupervisor {
        /// The supervisor's crash message.
        message: String,
    },
}

/// The decision of the realm `supervisor` (with `spec` and `history`) when its child
/// `crashed` crashed with `message` at `now`; `children` are its current children in
/// creation order (the crashed one may be among them).
pub(crate) fn decide(
    supervisor: &str,
    spec: SupervisorSpec,
    history: &mut RestartHistory,
    now: Duration,
    crashed: &ChildInfo,
    message: &str,
    children: &[ChildInfo],
) -> Vec<Action> {
    let name = crashed.name.clone();
    // The runtime's log got `Crashed` when the child crashed; the supervising realm hears
    // about it now, before anything else.
    let mut actions = vec![Action::Tell(LifecycleEvent::Crashed {
        realm: name.clone(),
        message: message.to_owned(),
    })];
    let give_up = |actions: &mut Vec<Action>, why: String| {
        actions.push(Action::Stop { child: crashed.id });
        actions.push(Action::Record(LifecycleEvent::Stopped {
            realm: name.clone(),
        }));
        actions.push(Action::Record(LifecycleEvent::Escalated {
            realm: name.clone(),
            to: supervisor.to_owned(),
        }));
        actions.push(Action::CrashSupervisor { message: why });
    };
    match crashed.policy {
        RestartPolicy::Stop => {
            actions.push(Action::Stop { child: crashed.id });
            actions.push(Action::Record(LifecycleEvent::Stopped { realm: name }));
        }
        RestartPolicy::Escalate => {
            give_up(
                &mut actions,
                format!("escalated: {name} crashed: {message}"),
            );
        }
        RestartPolicy::Reload if !history.allow(now, spec.intensity) => {
            let why = format!(
                "restart intensity exceeded ({} in {:?}): {name} crashed: {message}",
                spec.intensity.max_restarts, spec.intensity.within
            );
            give_up(&mut actions, why);
        }
        RestartPolicy::Reload => {
            let mut targets: Vec<u64> = match spec.strategy {
                Strategy::OneForOne => vec![],
                Strategy::OneForAll => children.iter().map(|c| c.id).collect(),
                Strategy::RestForOne => children
                    .iter()
                    .map(|c| c.id)
                    .filter(|id| *id >= crashed.id)
                    .collect(),
            };
            if !targets.contains(&crashed.id) {
                // The crashed child is always restarted; it may have left the list.
                let at = targets.partition_point(|id| *id < crashed.id);
                targets.insert(at, crashed.id);
            }
            for child in targets {
                let reason = if child == crashed.id {
                    format!("crashed: {message}")
                } else {
                    format!("{:?}: sibling {name} crashed", spec.strategy)
                };
                actions.push(Action::Restart { child, reason });
            }
        }
    }
    actions
}

/// The runtime's decision for a top-level window `window` (its browsing-context group's
/// root) that crashed with `message` at `now`: the window's own `policy`, the default
/// intensity, nothing to escalate to (`Escalate` stops the window, `Escalated { to:
/// "root" }`). The crash itself is already in the runtime's log; `Record` here means the
/// log only (a top-level window has no supervising realm).
pub(crate) fn decide_root(
    window: &str,
    policy: RestartPolicy,
    history: &mut RestartHistory,
    now: Duration,
    message: &str,
) -> Vec<Action> {
    let stopped = LifecycleEvent::Stopped {
        realm: window.to_owned(),
    };
    match policy {
        RestartPolicy::Reload if history.allow(now, Intensity::default()) => {
            vec![Action::Restart {
                child: 0,
                reason: message.to_owned(),
            }]
        }
        // Stopped before the events are recorded: whoever sees `Stopped` sees the
        // window closed.
        RestartPolicy::Escalate => vec![
            Action::Stop { child: 0 },
            Action::Record(stopped),
            Action::Record(LifecycleEvent::Escalated {
                realm: window.to_owned(),
                to: "root".into(),
            }),
        ],
        // `Stop`, or `Reload` beyond the root's intensity.
        _ => vec![Action::Stop { child: 0 }, Action::Record(stopped)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(id: u64, name: &str, policy: RestartPolicy) -> ChildInfo {
        ChildInfo {
            id,
            name: name.into(),
            policy,
        }
    }

    fn spec(strategy: Strategy) -> SupervisorSpec {
        SupervisorSpec {
            strategy,
            intensity: Intensity::default(),
        }
    }

    fn restarted(actions: &[Action]) -> Vec<u64> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Restart { child, .. } => Some(*child),
                _ => None,
            })
            .collect()
    }

    const T0: Duration = Duration::from_secs(100);

    #[test]
    fn history_allows_max_restarts_within_the_window_then_slides() {
        let mut h = RestartHistory::default();
        let i = Intensity {
            max_restarts: 2,
            within: Duration::from_secs(5),
        };
        assert!(h.allow(T0, i));
        assert!(h.allow(T0 + Duration::from_secs(1), i));
        assert!(!h.allow(T0 + Duration::from_secs(2), i));
        // The first restart leaves the window after 5 s; one more is allowed.
        assert!(h.allow(T0 + Duration::from_millis(5_001), i));
        assert!(!h.allow(T0 + Duration::from_millis(5_002), i));
    }

    #[test]
    fn zero_intensity_never_restarts() {
        let mut h = RestartHistory::default();
        let i = Intensity {
            max_restarts: 0,
            within: Duration::from_secs(5),
        };
        assert!(!h.allow(T0, i));
    }

    #[test]
    fn stop_policy_stops_only_the_child() {
        let c = child(3, "a", RestartPolicy::Stop);
        let mut h = RestartHistory::default();
        let a = decide(
            "sup",
            spec(Strategy::OneForAll),
            &mut h,
            T0,
            &c,
            "boom",
            &[],
        );
        assert_eq!(
            a,
            vec![
                Action::Tell(LifecycleEvent::Crashed {
                    realm: "a".into(),
                    message: "boom".into()
                }),
                Action::Stop { child: 3 },
                Action::Record(LifecycleEvent::Stopped { realm: "a".into() }),
            ]
        );
    }

    #[test]
    fn escalate_stops_the_child_then_crashes_the_supervisor() {
        let c = child(3, "a", RestartPolicy::Escalate);
        let mut h = RestartHistory::default();
        let a = decide(
            "sup",
            spec(Strategy::OneForOne),
            &mut h,
            T0,
            &c,
            "boom",
            &[],
        );
        assert_eq!(
            &a[1..],
            &[
                Action::Stop { child: 3 },
                Action::Record(LifecycleEvent::Stopped { realm: "a".into() }),
                Action::Record(LifecycleEvent::Escalated {
                    realm: "a".into(),
                    to: "sup".into()
                }),
                Action::CrashSupervisor {
                    message: "escalated: a crashed: boom".into()
                },
            ]
        );
    }

    #[test]
    fn strategies_choose_the_restarted_children_in_creation_order() {
        let kids = [
            child(1, "a", RestartPolicy::Stop),
            child(2, "b", RestartPolicy::Reload),
            child(3, "c", RestartPolicy::Escalate),
        ];
        let crashed = &kids[1];
        let run = |s| {
            let mut h = RestartHistory::default();
            restarted(&decide("sup", spec(s), &mut h, T0, crashed, "x", &kids))
        };
        assert_eq!(run(Strategy::OneForOne), vec![2]);
        // Siblings restart whatever their own policies.
        assert_eq!(run(Strategy::OneForAll), vec![1, 2, 3]);
        assert_eq!(run(Strategy::RestForOne), vec![2, 3]);
    }

    #[test]
    fn the_crashed_child_is_restarted_even_when_no_longer_listed() {
        let kids = [child(1, "a", RestartPolicy::Reload)];
        let gone = child(2, "b", RestartPolicy::Reload);
        for s in [Strategy::OneForAll, Strategy::RestForOne] {
            let mut h = RestartHistory::default();
            let a = decide("sup", spec(s), &mut h, T0, &gone, "x", &kids);
            assert!(restarted(&a).contains(&2), "{s:?}: {a:?}");
        }
    }

    #[test]
    fn restart_reasons_name_the_crash_or_the_sibling() {
        let kids = [
            child(1, "a", RestartPolicy::Reload),
            child(2, "b", RestartPolicy::Reload),
        ];
        let mut h = RestartHistory::default();
        let a = decide(
            "sup",
            spec(Strategy::OneForAll),
            &mut h,
            T0,
            &kids[0],
            "boom",
            &kids,
        );
        assert_eq!(
            &a[1..],
            &[
                Action::Restart {
                    child: 1,
                    reason: "crashed: boom".into()
                },
                Action::Restart {
                    child: 2,
                    reason: "OneForAll: sibling a crashed".into()
                },
            ]
        );
    }

    #[test]
    fn one_crash_past_the_intensity_gives_up_once_for_many_siblings() {
        let kids = [
            child(1, "a", RestartPolicy::Reload),
            child(2, "b", RestartPolicy::Reload),
        ];
        let s = SupervisorSpec {
            strategy: Strategy::OneForAll,
            intensity: Intensity {
                max_restarts: 1,
                within: Duration::from_secs(5),
            },
        };
        let mut h = RestartHistory::default();
        // The first crash restarts both siblings and counts once.
        let a = decide("sup", s, &mut h, T0, &kids[0], "x", &kids);
        assert_eq!(restarted(&a), vec![1, 2]);
        let a = decide("sup", s, &mut h, T0, &kids[1], "y", &kids);
        assert!(restarted(&a).is_empty());
        assert_eq!(a[1], Action::Stop { child: 2 });
        assert_eq!(
            a.last(),
            Some(&Action::CrashSupervisor {
                message: "restart intensity exceeded (1 in 5s): b crashed: y".into()
            })
        );
    }

    #[test]
    fn root_reloads_within_the_default_intensity_then_stops() {
        let mut h = RestartHistory::default();
        for _ in 0..3 {
            let a = decide_root("w", RestartPolicy::Reload, &mut h, T0, "boom");
            assert!(matches!(a[..], [Action::Restart { child: 0, .. }]));
        }
        let a = decide_root("w", RestartPolicy::Reload, &mut h, T0, "boom");
        assert_eq!(
            a,
            vec![
                Action::Stop { child: 0 },
                Action::Record(LifecycleEvent::Stopped { realm: "w".into() })
            ]
        );
    }

    #[test]
    fn root_escalation_stops_the_window_and_names_root() {
        let mut h = RestartHistory::default();
        let a = decide_root("w", RestartPolicy::Escalate, &mut h, T0, "boom");
        assert_eq!(
            a.last(),
            Some(&Action::Record(LifecycleEvent::Escalated {
                realm: "w".into(),
                to: "root".into()
            }))
        );
        let a = decide_root("w", RestartPolicy::Stop, &mut h, T0, "boom");
        assert_eq!(a.len(), 2);
    }
}
