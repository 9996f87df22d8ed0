//! The standard's `BroadcastChannel` example: the user has the same site open in several
//! tabs; logging out in one tab must log them out everywhere.
//!
//! ```js
//! var authChannel = new BroadcastChannel('auth');
//! authChannel.onmessage = function (event) {
//!   if (event.data == 'logout') showLogout();
//! }
//! function logoutRequested() {
//!   doLogout(); showLogout(); authChannel.postMessage('logout');
//! }
//! ```
//!
//! Two tabs of `https://app.example` (two top-level windows, each on its own thread) and
//! one tab of another site that also has a channel called `auth`. The user logs out in
//! the first tab: the second hears it; the first does not hear its own message; the other
//! site never does (each origin's channels are separate).
//!
//! Run with `cargo run --example logout_broadcast`.

use std::cell::Cell;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

/// The page's state and its channel, kept as globals of the document.
struct Session {
    logged_in: Cell<bool>,
    heard: Cell<u32>,
}

fn show_logout(scope: &Scope) {
    let session = scope.global::<Session>().expect("session");
    session.logged_in.set(false);
    println!("{}: showing \"you are logged out\"", scope.url());
}

/// Called when the user asks this tab to log out.
fn logout_requested(scope: &Scope) -> webmessaging::Result<()> {
    println!("{}: the user clicked \"log out\"", scope.url());
    // doLogout(): clear cookies and the like.
    show_logout(scope);
    let channel = scope.global::<BroadcastChannel>().expect("auth channel");
    channel.post_message(&Value::from("logout"))
}

/// Reads a tab's session state (logged in, broadcasts heard), as a task of that tab.
async fn state(tab: &WindowHandle) -> webmessaging::Result<(bool, u32)> {
    tab.run(|scope: &Scope| {
        let s = scope.global::<Session>().expect("session");
        (s.logged_in.get(), s.heard.get())
    })
    .await
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();

    let page = move |tx: mpsc::UnboundedSender<String>| {
        move |scope: &Scope| {
            scope.set_global(Session {
                logged_in: Cell::new(true),
                heard: Cell::new(0),
            });
            let auth = scope.broadcast_channel("auth");
            let tx = tx.clone();
            auth.on_message(move |scope: &Scope, e: &MessageEvent| {
                let session = scope.global::<Session>().expect("session");
                session.heard.set(session.heard.get() + 1);
                if e.data().as_str() == Some("logout") {
                    println!("{}: heard \"logout\" from {}", scope.url(), e.origin());
                    show_logout(scope);
                    let _ = tx.send(scope.url().to_string());
                }
            });
            scope.set_global(auth);
        }
    };
    browser.route("https://app.example/inbox", page(tx.clone()))?;
    browser.route("https://app.example/settings", page(tx.clone()))?;
    browser.route("https://other.example/", page(tx.clone()))?;

    let inbox = browser.open("https://app.example/inbox")?;
    let settings = browser.open("https://app.example/settings")?;
    let other = browser.open("https://other.example/")?;
    // Each tab has run its load script (and so made its channel) once it has settled.
    for tab in [&inbox, &settings, &other] {
        tab.settle().await?;
    }
    println!("main: three tabs open, everyone logged in");

    inbox.run(logout_requested).await??;

    let heard = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out waiting for the second tab")
        .expect("channel closed");
    assert_eq!(heard, "https://app.example/settings");

    let (inbox_in, inbox_heard) = state(&inbox).await?;
    let (settings_in, _) = state(&settings).await?;
    let (other_in, other_heard) = state(&other).await?;
    println!(
        "main: inbox logged in: {inbox_in} (heard its own message: {})",
        inbox_heard > 0
    );
    println!("main: settings logged in: {settings_in}");
    println!("main: other.example logged in: {other_in} (messages heard: {other_heard})");
    assert!(!inbox_in && !settings_in && other_in);
    assert_eq!(inbox_heard, 0, "a channel never receives its own messages");

    // A closed channel throws InvalidStateError, synchronously.
    let err = inbox
        .run(|scope: &Scope| {
            let auth = scope.global::<BroadcastChannel>().expect("auth");
            auth.close();
            auth.post_message(&Value::from("logout")).unwrap_err()
        })
        .await?;
    println!("main: posting on a closed channel: {err}");
    assert_eq!(err.name(), ExceptionName::InvalidStateError);

    println!("main: done");
    browser.shutdown();
    Ok(())
}
