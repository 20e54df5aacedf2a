use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Semaphore};

use super::*;
use crate::telemetry::test_metrics;

/// What the next incarnation of the test component does.
enum Act {
    Panic(&'static str),
    Return,
}

/// A component whose incarnations act as told, one order each; restarts wait for a permit
/// when `gate` is set, so that a test can look at the state between failure and restart.
struct Puppet {
    orders: mpsc::UnboundedSender<Act>,
    starts: Arc<Mutex<Vec<Instant>>>,
    finished: Arc<AtomicBool>,
    gate: Arc<Semaphore>,
    health: Health,
    stop: CancellationToken,
}

fn puppet(name: &str, backoff: Backoff, gated: bool) -> (Puppet, JoinHandle<()>) {
    test_metrics::install();
    let (orders, received) = mpsc::unbounded_channel();
    let received = Arc::new(tokio::sync::Mutex::new(received));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(Semaphore::new(if gated {
        0
    } else {
        Semaphore::MAX_PERMITS
    }));
    let health = Health::default();
    let stop = CancellationToken::new();
    let incarnation = {
        let (received, starts) = (received.clone(), starts.clone());
        move || {
            starts.lock().unwrap().push(Instant::now());
            let received = received.clone();
            tokio::spawn(async move {
                let order = received.lock().await.recv().await;
                match order {
                    Some(Act::Panic(message)) => panic!("{message}"),
                    Some(Act::Return) | None => {}
                }
            })
        }
    };
    let first = incarnation();
    let restart_gate = gate.clone();
    let is_finished = finished.clone();
    let supervisor = spawn(
        Supervised {
            kind: Kind::Processor,
            name: name.to_string(),
            health: health.clone(),
            backoff,
            stop: stop.clone(),
            finished: Box::new(move || is_finished.load(Ordering::SeqCst)),
            restart: Box::new(move || {
                let (gate, next) = (restart_gate.clone(), incarnation.clone());
                Box::pin(async move {
                    gate.acquire().await.expect("never closed").forget();
                    Ok(next())
                })
            }),
            give_up: None,
        },
        first,
    );
    (
        Puppet {
            orders,
            starts,
            finished,
            gate,
            health,
            stop,
        },
        supervisor,
    )
}

fn failures(name: &str) -> u64 {
    test_metrics::counter(names::COMPONENT_FAILURES, "component", name)
}

fn state(health: &Health, name: &str) -> (bool, String) {
    let (ready, body) = health.report();
    let state = body["components"]["processors"][name]
        .as_str()
        .unwrap_or("(absent)")
        .to_string();
    (ready, state)
}

/// Waits (bounded) until `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

fn quick() -> Backoff {
    Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(4),
        healthy_after: Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn a_panic_is_counted_shown_on_ready_and_the_component_restarted() {
    let name = "test/panics";
    let (puppet, supervisor) = puppet(name, quick(), true);
    assert_eq!(state(&puppet.health, name), (true, "running".to_string()));

    puppet.orders.send(Act::Panic("poison record")).unwrap();
    eventually("the failure is counted", || failures(name) == 1).await;
    eventually("/ready names the component", || {
        state(&puppet.health, name) == (false, "restarting after panic: poison record".to_string())
    })
    .await;
    assert_eq!(
        puppet.starts.lock().unwrap().len(),
        1,
        "the restart waits for the gate"
    );

    puppet.gate.add_permits(1);
    eventually("it runs again", || {
        state(&puppet.health, name) == (true, "running".to_string())
    })
    .await;
    assert_eq!(puppet.starts.lock().unwrap().len(), 2);

    // It ends for good once it is finished: no failure, no restart.
    puppet.finished.store(true, Ordering::SeqCst);
    puppet.orders.send(Act::Return).unwrap();
    supervisor.await.unwrap();
    assert_eq!(failures(name), 1);
    assert_eq!(puppet.starts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_exit_while_not_finished_is_a_failure_too() {
    let name = "test/exits";
    let (puppet, supervisor) = puppet(name, quick(), false);
    puppet.orders.send(Act::Return).unwrap();
    eventually("restarted", || puppet.starts.lock().unwrap().len() == 2).await;
    assert_eq!(failures(name), 1);
    puppet.stop.cancel();
    puppet.orders.send(Act::Panic("after stop")).unwrap();
    // Stopped: the panic is counted, the component not started again.
    supervisor.await.unwrap();
    assert_eq!(failures(name), 2);
    assert_eq!(puppet.starts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_panic_once_its_work_is_finished_is_counted_but_not_restarted() {
    let name = "test/panics-when-finished";
    let (puppet, supervisor) = puppet(name, quick(), false);
    puppet.finished.store(true, Ordering::SeqCst);
    puppet.orders.send(Act::Panic("while draining")).unwrap();
    supervisor.await.unwrap();
    assert_eq!(failures(name), 1);
    assert_eq!(puppet.starts.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_doubles_up_to_its_cap_and_resets_after_a_healthy_run() {
    let name = "test/backoff";
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        healthy_after: Duration::from_secs(60),
    };
    let (puppet, supervisor) = puppet(name, backoff, false);
    for _ in 0..4 {
        puppet.orders.send(Act::Panic("again")).unwrap();
    }
    eventually("four restarts", || puppet.starts.lock().unwrap().len() == 5).await;
    // A long, healthy run, then one more panic.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let panicked = Instant::now();
    puppet
        .orders
        .send(Act::Panic("after a healthy run"))
        .unwrap();
    eventually("a fifth restart", || {
        puppet.starts.lock().unwrap().len() == 6
    })
    .await;

    let starts = puppet.starts.lock().unwrap().clone();
    let gaps: Vec<u128> = starts[..5]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // With the clock paused, each restart comes after its delay (to the timer's millisecond).
    let expected = [100, 200, 400, 400];
    for (gap, delay) in gaps.iter().zip(expected) {
        assert!(
            (delay..=delay + 2).contains(gap),
            "{gaps:?}, expected {expected:?}"
        );
    }
    let after_healthy_run = (starts[5] - panicked).as_millis();
    assert!(
        (100..=102).contains(&after_healthy_run),
        "{after_healthy_run} ms"
    );
    assert_eq!(failures(name), 5);
    puppet.stop.cancel();
    puppet.orders.send(Act::Panic("stop")).unwrap();
    supervisor.await.unwrap();
}

#[test]
fn the_delay_doubles_and_stops_at_the_cap() {
    let backoff = Backoff::default();
    let mut delay = backoff.initial;
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(delay.as_millis());
        delay = backoff.after(delay);
    }
    assert_eq!(
        seen,
        [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
    );
}

#[tokio::test]
async fn a_failed_restart_counts_and_is_tried_again() {
    test_metrics::install();
    let name = "test/restart-fails";
    let health = Health::default();
    let stop = CancellationToken::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let first = tokio::spawn(async { panic!("first") });
    let supervisor = spawn(
        Supervised {
            kind: Kind::Receiver,
            name: name.to_string(),
            health: health.clone(),
            backoff: quick(),
            stop: stop.clone(),
            finished: Box::new(|| false),
            restart: Box::new(move || {
                let attempt = counted.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    if attempt < 2 {
                        Err(StartError {
                            component: "test".into(),
                            message: "address in use".into(),
                        })
                    } else {
                        Ok(tokio::spawn(std::future::pending::<()>()))
                    }
                })
            }),
            give_up: None,
        },
        first,
    );
    eventually("running after two failed restarts", || {
        attempts.load(Ordering::SeqCst) == 3
            && health.report().1["components"]["receivers"][name] == "running"
    })
    .await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        test_metrics::counter(names::COMPONENT_FAILURES, "component", name),
        3
    );
    supervisor.abort();
}

#[tokio::test]
async fn stopped_during_a_backoff_it_gives_up_what_waits_in_the_input() {
    let stop = CancellationToken::new();
    let gave_up = Arc::new(AtomicBool::new(false));
    let flag = gave_up.clone();
    let first = tokio::spawn(async { panic!("first") });
    let supervisor = spawn(
        Supervised {
            kind: Kind::Exporter,
            name: "stopped-in-backoff".to_string(),
            health: Health::default(),
            backoff: Backoff {
                initial: Duration::from_secs(3600),
                max: Duration::from_secs(3600),
                healthy_after: Duration::from_secs(3600),
            },
            stop: stop.clone(),
            finished: Box::new(|| false),
            restart: Box::new(|| Box::pin(async { panic!("never restarted within the test") })),
            give_up: Some(Box::new(move || {
                Box::pin(async move { flag.store(true, Ordering::SeqCst) })
            })),
        },
        first,
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), supervisor)
        .await
        .expect("the supervisor ends once stopped")
        .unwrap();
    assert!(gave_up.load(Ordering::SeqCst), "what waited was counted");
}
