//! BroadcastChannel ordering and exactly-once, as a property: random scripts of creating,
//! closing and posting on channels of one name in one window, split into tasks, with
//! receivers in that window's event loop and in another top-level window's (another
//! thread). Every receiver gets exactly the posts the standard gives it, once each, in
//! the order they were made:
//!
//! - posts of *other* channels only (never its own);
//! - posts made after it was created (creation order, `postMessage` steps 7-9);
//! - nothing whose task has not run when it is closed: a post in the task that closes it,
//!   or later, reaches it never (a closed channel's queued deliveries are dropped);
//! - a post on a closed channel is an `InvalidStateError` and reaches no one.
//!
//! The cases scale with `BROADCAST_ORDER_CASES` (default 24: each case opens two windows).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Strategy;
use tokio::sync::mpsc;
use webmessaging::prelude::*;

/// The marker every open receiver gets last.
const END: u64 = u64::MAX;

/// One step of a script, with indices into the window's channels taken modulo their count.
#[derive(Clone, Debug)]
enum Op {
    Create,
    Close(u8),
    Post(u8),
    /// The next steps run in a new task.
    NextTask,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Create),
        1 => any::<u8>().prop_map(Op::Close),
        4 => any::<u8>().prop_map(Op::Post),
        1 => Just(Op::NextTask),
    ]
}

/// A step as the window runs it (indices resolved).
#[derive(Clone, Debug)]
enum Step {
    Create,
    Close(usize),
    /// Post number `k` on channel `i`, which is open.
    Post(usize, u64),
    /// Post on channel `i`, which is closed: an `InvalidStateError`.
    PostClosed(usize),
}

/// A channel of the window, as the model knows it.
struct Chan {
    /// The step (counted over the whole script) that created it.
    created: usize,
    /// The task that closed it.
    closed_in: Option<usize>,
}

/// A post as the model knows it.
struct Posted {
    k: u64,
    sender: usize,
    step: usize,
    task: usize,
}

/// What each receiver must get, in order, by label (`a{i}` in the window, `b0`/`b1` in
/// the other one).
type Wanted = Vec<(String, Vec<u64>)>;

/// The script's tasks and what each receiver must get.
fn model(ops: &[Op]) -> (Vec<Vec<Step>>, Wanted) {
    // Channels 0 and 1 are made by the setup task (task 0, steps 0 and 1).
    let mut chans = vec![
        Chan {
            created: 0,
            closed_in: None,
        },
        Chan {
            created: 1,
            closed_in: None,
        },
    ];
    let mut posts = Vec::new();
    let mut tasks = vec![Vec::new()];
    let mut task = 1;
    for (i, op) in ops.iter().enumerate() {
        let step = i + 2;
        let steps = tasks.last_mut().expect("one task at least");
        match op {
            Op::Create => {
                chans.push(Chan {
                    created: step,
                    closed_in: None,
                });
                steps.push(Step::Create);
            }
            Op::Close(j) => {
                let j = *j as usize % chans.len();
                chans[j].closed_in.get_or_insert(task);
                steps.push(Step::Close(j));
            }
            Op::Post(j) => {
                let j = *j as usize % chans.len();
                if chans[j].closed_in.is_some() {
                    steps.push(Step::PostClosed(j));
                } else {
                    let k = posts.len() as u64;
                    posts.push(Posted {
                        k,
                        sender: j,
                        step,
                        task,
                    });
                    steps.push(Step::Post(j, k));
                }
            }
            Op::NextTask => {
                tasks.push(Vec::new());
                task += 1;
            }
        }
    }
    let mut want = Vec::new();
    for (r, c) in chans.iter().enumerate() {
        let mut got: Vec<u64> = posts
            .iter()
            .filter(|p| p.sender != r && p.step > c.created)
            .filter(|p| c.closed_in.is_none_or(|u| p.task < u))
            .map(|p| p.k)
            .collect();
        if c.closed_in.is_none() {
            got.push(END);
        }
        want.push((format!("a{r}"), got));
    }
    for b in ["b0", "b1"] {
        let mut all: Vec<u64> = posts.iter().map(|p| p.k).collect();
        all.push(END);
        want.push((b.to_owned(), all));
    }
    (tasks, want)
}

type Tx = mpsc::UnboundedSender<(String, u64)>;

/// A channel named "order" whose deliveries are reported as (label, post number).
fn receiver(scope: &Scope, label: String, tx: &Tx) -> BroadcastChannel {
    let c = scope.broadcast_channel("order");
    let tx = tx.clone();
    c.on_message(move |_s: &Scope, e: &MessageEvent| {
        let k = e.data_as::<u64>().unwrap_or(END - 1);
        let _ = tx.send((label.clone(), k));
    });
    c
}

/// The window's channels, by creation index.
#[derive(Default)]
struct Chans(RefCell<Vec<BroadcastChannel>>);

fn chans(scope: &Scope) -> Rc<Chans> {
    scope
        .global::<Chans>()
        .unwrap_or_else(|| scope.set_global(Chans::default()))
}

/// Runs one case; `Err` says how a receiver's deliveries differ from the model's.
async fn run_case(ops: Vec<Op>) -> Result<(), String> {
    let (tasks, want) = model(&ops);
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, u64)>();
    let (err_tx, mut err_rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let other = browser
        .open_with("https://app.example/b", move |s: &Scope| {
            let keep = chans(s);
            for b in ["b0", "b1"] {
                keep.0.borrow_mut().push(receiver(s, b.to_owned(), &t));
            }
        })
        .map_err(|e| e.to_string())?;
    other.settle().await.map_err(|e| e.to_string())?;
    let window = browser
        .open("https://app.example/a")
        .map_err(|e| e.to_string())?;
    // Task 0: channels a0 and a1.
    let t = tx.clone();
    window
        .run(move |s: &Scope| {
            let keep = chans(s);
            for i in 0..2 {
                keep.0.borrow_mut().push(receiver(s, format!("a{i}"), &t));
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    for steps in tasks {
        let (t, e) = (tx.clone(), err_tx.clone());
        window
            .run(move |s: &Scope| {
                let keep = chans(s);
                for step in steps {
                    match step {
                        Step::Create => {
                            let n = keep.0.borrow().len();
                            let c = receiver(s, format!("a{n}"), &t);
                            keep.0.borrow_mut().push(c);
                        }
                        Step::Close(i) => keep.0.borrow()[i].close(),
                        Step::Post(i, k) => {
                            if let Err(err) = keep.0.borrow()[i].post(&k) {
                                let _ = e.send(format!("post {k} on a{i}: {err}"));
                            }
                        }
                        Step::PostClosed(i) => match keep.0.borrow()[i].post(&0u64) {
                            Err(webmessaging::Error::InvalidState(_)) => {}
                            other => {
                                let _ = e.send(format!("post on closed a{i}: {other:?}"));
                            }
                        },
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    // The end marker, from a channel of its own made in a last task.
    window
        .run(|s: &Scope| {
            let end = s.broadcast_channel("order");
            end.post(&END).expect("the marker posts");
            end.close();
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut got: Wanted = want.iter().map(|(l, _)| (l.clone(), vec![])).collect();
    let mut ends = want.iter().filter(|(_, w)| w.last() == Some(&END)).count();
    while ends > 0 {
        let (label, k) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .map_err(|_| format!("timed out; so far {got:?}, want {want:?}"))?
            .ok_or("report channel closed")?;
        if k == END {
            ends -= 1;
        }
        match got.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(k),
            None => return Err(format!("a delivery to unknown channel {label}")),
        }
    }
    if let Ok(e) = err_rx.try_recv() {
        return Err(e);
    }
    browser.shutdown();
    for ((label, got), (_, want)) in got.iter().zip(&want) {
        if got != want {
            return Err(format!("{label} got {got:?}, want {want:?} (ops {ops:?})"));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("BROADCAST_ORDER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 64,
        .. ProptestConfig::default()
    })]

    /// Every receiver, in the posting window's loop or another thread's, gets exactly the
    /// posts of other channels made after its creation and before the task that closed it,
    /// once each, in order; posts on closed channels throw and reach no one.
    #[test]
    fn broadcasts_reach_exactly_the_eligible_receivers_once_in_order(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let r = actix_rt::System::new().block_on(run_case(ops));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// The model itself, on a script worked by hand: a closed receiver keeps what earlier
/// tasks posted, a channel made later gets only later posts, nobody gets its own.
#[test]
fn the_model_of_a_hand_written_script() {
    use Op::*;
    let (tasks, want) = model(&[
        Post(0),
        NextTask,
        Create,
        Post(1),
        Close(0),
        Post(2),
        Post(0),
    ]);
    assert_eq!(tasks.len(), 2);
    assert!(matches!(tasks[1].last(), Some(Step::PostClosed(0))));
    let w = |l: &str| want.iter().find(|(x, _)| x == l).map(|(_, v)| v.clone());
    assert_eq!(
        w("a0"),
        Some(vec![]),
        "its own post only, then closed in task 2"
    );
    assert_eq!(w("a1"), Some(vec![0, 2, END]));
    assert_eq!(
        w("a2"),
        Some(vec![1, END]),
        "made after post 0, posted 2 itself"
    );
    assert_eq!(w("b0"), Some(vec![0, 1, 2, END]));
}
