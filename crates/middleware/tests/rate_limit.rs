//! Rate limiting: exact retry-after under paused time, shared state across
//! clones, no inner readiness held by a rejection, bounded keyed table, and
//! the GCRA invariant as a property.
#![cfg(feature = "rate-limit")]

use std::time::Duration;

use evenkeel_middleware::rate_limit::{KeyedRateLimiter, RateLimitEvent, RateLimiter};
use evenkeel_middleware::{Error, KeyedRateLimitLayer, RateLimitLayer};
use proptest::prelude::*;
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_test::mock;

fn echo() -> impl tower::Service<u32, Response = u32, Error = std::io::Error, Future: Send> + Clone
{
    service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) })
}

/// The burst is admitted at once, the next request is refused with the
/// exact wait, and it is admitted when that wait has passed.
#[tokio::test(start_paused = true)]
async fn rejects_with_exact_retry_after_then_admits() {
    let svc = RateLimitLayer::new(RateLimiter::new(4, Duration::from_secs(1))).layer(echo());
    for i in 0..4 {
        assert_eq!(svc.clone().oneshot(i).await.unwrap(), i);
    }
    let err = svc.clone().oneshot(9).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_millis(250))
    );
    tokio::time::advance(Duration::from_millis(249)).await;
    assert!(svc.clone().oneshot(9).await.is_err());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(svc.clone().oneshot(9).await.unwrap(), 9);
}

/// Services made by clones of one layer, and clones of one service, all
/// draw on the same limiter.
#[tokio::test(start_paused = true)]
async fn clones_share_one_limiter() {
    let layer = RateLimitLayer::per_second(2);
    let a = layer.clone().layer(echo());
    let b = layer.layer(echo());
    let c = a.clone();
    assert!(a.oneshot(1).await.is_ok());
    assert!(b.clone().oneshot(2).await.is_ok());
    assert!(matches!(c.oneshot(3).await, Err(Error::RateLimited { .. })));
    assert!(matches!(b.oneshot(4).await, Err(Error::RateLimited { .. })));
}

/// A refused request reports ready without polling the inner service (so
/// no inner readiness is reserved), and its call fails at once.
#[tokio::test(start_paused = true)]
async fn rejection_does_not_poll_inner_readiness() {
    let layer = RateLimitLayer::new(RateLimiter::new(1, Duration::from_secs(1)));
    let (mut svc, mut handle) = mock::spawn_layer::<u32, u32, _>(layer.clone());
    handle.allow(0);
    // Admitted: waits for the inner service.
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(1);
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, 1);
    send.send_response(10);
    assert_eq!(fut.await.unwrap(), 10);

    // Refused: ready at once although the inner service is not ready.
    handle.allow(0);
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call(2).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }));
}

/// A rejection is a value, not a poisoned service: after the wait the same
/// service instance admits again.
#[tokio::test(start_paused = true)]
async fn service_stays_usable_after_rejection() {
    let mut svc = RateLimitLayer::new(RateLimiter::new(1, Duration::from_secs(1))).layer(echo());
    assert!(svc.ready().await.unwrap().call(1).await.is_ok());
    assert!(svc.ready().await.unwrap().call(2).await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(svc.ready().await.unwrap().call(3).await.is_ok());
}

/// Each key has its own budget, and the table never exceeds `max_keys`.
#[tokio::test(start_paused = true)]
async fn keyed_limits_per_key_with_bounded_table() {
    let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(1))
        .max_keys(3)
        .build();
    let svc = KeyedRateLimitLayer::new(limiter.clone(), |x: &u32| *x % 100).layer(echo());
    assert!(svc.clone().oneshot(1).await.is_ok());
    assert!(svc.clone().oneshot(2).await.is_ok());
    assert!(matches!(
        svc.clone().oneshot(101).await,
        Err(Error::RateLimited { .. })
    ));
    for key in 10..50 {
        assert!(svc.clone().oneshot(key).await.is_ok());
        assert!(limiter.len() <= 3);
    }
}

/// Keys whose budget has fully replenished are dropped first when the
/// table is full, so an active key keeps its state.
#[tokio::test(start_paused = true)]
async fn keyed_prunes_replenished_keys_first() {
    let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(10))
        .max_keys(2)
        .build();
    assert!(limiter.check("old").is_ok());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(limiter.check("active").is_ok());
    assert!(limiter.check("new").is_ok());
    // "old" was replenished and went; "active" is still limited.
    assert!(limiter.check("active").is_err());
    assert_eq!(limiter.len(), 2);
}

/// The keyed layer awaits inner readiness only after admission, inside the
/// response future; a refused key never polls the inner service.
#[tokio::test(start_paused = true)]
async fn keyed_rejection_does_not_poll_inner() {
    let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
    let (mut svc, mut handle) =
        mock::spawn_layer::<u32, u32, _>(KeyedRateLimitLayer::new(limiter, |_: &u32| ()));
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(1);
    let respond = async {
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(1);
    };
    let (out, ()) = tokio::join!(fut, respond);
    assert_eq!(out.unwrap(), 1);
    handle.allow(0);
    assert_ready_ok!(svc.poll_ready());
    assert!(matches!(svc.call(2).await, Err(Error::RateLimited { .. })));
}

/// `poll_ready` spends nothing: a service polled ready and then dropped,
/// or left idle (as tower's `Balance` and `ReadyCache` do), leaves the
/// token for the next caller. (Before the fix `poll_ready` took it.)
#[tokio::test(start_paused = true)]
async fn readiness_without_a_call_spends_no_token() {
    let layer = RateLimitLayer::new(RateLimiter::new(1, Duration::from_secs(60)));
    let mut idle = layer.layer(echo());
    assert_ready_ok!(tokio_test::task::spawn(()).enter(|cx, _| idle.poll_ready(cx)));
    let mut polled_then_dropped = layer.layer(echo());
    assert!(polled_then_dropped.ready().await.is_ok());
    drop(polled_then_dropped);
    // The one token of the minute is still there.
    assert_eq!(layer.layer(echo()).oneshot(7).await.unwrap(), 7);
    // The idle service's earlier readiness does not let it through now.
    assert!(matches!(idle.call(8).await, Err(Error::RateLimited { .. })));
}

/// A refusal seen by `poll_ready` is looked at again on the next poll, so
/// a service that waited does not carry a stale refusal; and the wait a
/// refused `call` reports is the one left at that moment.
#[tokio::test(start_paused = true)]
async fn refusals_are_revalidated_not_cached() {
    let limiter = RateLimiter::new(1, Duration::from_secs(1));
    let mut svc = RateLimitLayer::new(limiter.clone()).layer(echo());
    limiter.check().unwrap();
    let mut task = tokio_test::task::spawn(());
    assert_ready_ok!(task.enter(|cx, _| svc.poll_ready(cx))); // refused, for now
    tokio::time::advance(Duration::from_millis(400)).await;
    match svc.call(1).await {
        Err(Error::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_millis(600));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_ready_ok!(task.enter(|cx, _| svc.poll_ready(cx))); // refused again
    tokio::time::advance(Duration::from_millis(600)).await;
    // Polled again after the wait: admitted.
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);
}

/// Two services both polled ready for the last token: the token goes to
/// the first `call`, the second is refused with the wait.
#[tokio::test(start_paused = true)]
async fn two_ready_services_race_for_one_token() {
    let layer = RateLimitLayer::new(RateLimiter::new(1, Duration::from_secs(1)));
    let mut a = layer.layer(echo());
    let mut b = layer.layer(echo());
    a.ready().await.unwrap();
    b.ready().await.unwrap();
    assert_eq!(b.call(2).await.unwrap(), 2);
    assert!(
        matches!(a.call(1).await, Err(Error::RateLimited { retry_after }) if retry_after == Duration::from_secs(1))
    );
}

/// Keyed limiter: every clone, taken before or after use, shares the one
/// table the builder made (the old builder methods made a fresh one).
#[tokio::test(start_paused = true)]
async fn keyed_clones_share_the_built_table() {
    let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(1))
        .burst(1)
        .max_keys(10)
        .build();
    let early = limiter.clone();
    assert!(limiter.check("k").is_ok());
    let late = limiter.clone();
    assert!(early.check("k").is_err());
    assert!(late.check("k").is_err());
    assert!(early.shares_state_with(&late));
    assert_eq!(late.len(), 1);
}

/// A client rotating keys faster than they replenish keeps the table
/// bounded, and the table is swept in batches: one sweep per eighth of
/// `max_keys` new keys, not one scan per new key.
#[tokio::test(start_paused = true)]
async fn rotating_keys_are_swept_in_amortised_batches() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sweeps = Arc::new(AtomicUsize::new(0));
    let seen = sweeps.clone();
    let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(3600))
        .max_keys(800)
        .on_event(move |e| {
            if let RateLimitEvent::Swept { evicted, .. } = e {
                assert!(*evicted >= 100, "a sweep frees an eighth of the table");
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build();
    for key in 0..8_000_u32 {
        assert!(limiter.check(key).is_ok());
        assert!(limiter.len() <= 800);
    }
    let n = sweeps.load(Ordering::Relaxed);
    assert!(
        (60..=80).contains(&n),
        "{n} sweeps for 7 200 overflowing keys"
    );
}

/// The listener hears every refusal, with the key for a keyed limiter and
/// from the layer's refusals decided in `poll_ready`.
#[tokio::test(start_paused = true)]
async fn listeners_hear_rejections_with_keys() {
    use std::sync::{Arc, Mutex};
    let keyed_log = Arc::new(Mutex::new(Vec::new()));
    let log = keyed_log.clone();
    let keyed = KeyedRateLimiter::builder(1, Duration::from_secs(1))
        .on_event(move |e: &RateLimitEvent<'_, &str>| {
            if let RateLimitEvent::Rejected { key, retry_after } = e {
                log.lock().unwrap().push((key.to_string(), *retry_after));
            }
        })
        .build();
    keyed.check("alice").unwrap();
    keyed.check("bob").unwrap();
    keyed.check("alice").unwrap_err();
    assert_eq!(
        *keyed_log.lock().unwrap(),
        [("alice".to_owned(), Duration::from_secs(1))]
    );

    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    let limiter = RateLimiter::builder(1, Duration::from_secs(1))
        .on_event(move |_| *c.lock().unwrap() += 1)
        .build();
    let svc = RateLimitLayer::new(limiter).layer(echo());
    assert!(svc.clone().oneshot(1).await.is_ok());
    assert!(svc.clone().oneshot(2).await.is_err());
    assert!(svc.oneshot(3).await.is_err());
    assert_eq!(*count.lock().unwrap(), 2);
}

proptest! {
    /// GCRA never admits more than `burst + elapsed / interval` requests in
    /// any run, and every refusal's retry-after is exact: waiting exactly
    /// that long admits the next request.
    #[test]
    fn gcra_admits_at_most_burst_plus_rate(
        burst in 1_u32..8,
        steps in proptest::collection::vec(0_u64..400, 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let limiter = RateLimiter::with_burst(10, Duration::from_secs(1), burst);
            let mut admitted = 0_u64;
            let mut elapsed = 0_u64;
            for step in steps {
                tokio::time::advance(Duration::from_millis(step)).await;
                elapsed += step;
                match limiter.check() {
                    Ok(()) => admitted += 1,
                    Err(wait) => {
                        prop_assert!(wait <= Duration::from_millis(100));
                        tokio::time::advance(wait).await;
                        elapsed += u64::try_from(wait.as_millis()).unwrap() + 1;
                        prop_assert!(limiter.check().is_ok());
                        admitted += 1;
                    }
                }
                prop_assert!(admitted <= u64::from(burst) + elapsed / 100 + 1);
            }
            Ok(())
        })?;
    }
}

/// Checks `times` (milliseconds from the limiter's creation) and returns
/// the admitted ones; `check(t)` is the limiter's check at `t`.
fn admitted_times(times: &[u64], mut check: impl FnMut(u64) -> Result<(), Duration>) -> Vec<u64> {
    times
        .iter()
        .copied()
        .filter(|&t| check(t).is_ok())
        .collect()
}

/// The GCRA bound: in every window between two admitted checks `a_i ≤ a_j`,
/// at most `burst + ⌊(a_j − a_i) / interval⌋` checks were admitted.
fn within_bound(admitted: &[u64], burst: u64, interval_ms: u64) -> Result<(), TestCaseError> {
    for (i, &start) in admitted.iter().enumerate() {
        for (j, &end) in admitted.iter().enumerate().skip(i) {
            let count = u64::try_from(j - i + 1).unwrap();
            prop_assert!(
                count <= burst + (end - start) / interval_ms,
                "{count} admitted in [{start}, {end}] ms with burst {burst}, interval {interval_ms} ms"
            );
        }
    }
    Ok(())
}

proptest! {
    /// For any sequence of check times, any interval and any burst, the
    /// limiter never admits more than its burst plus rate × elapsed in any
    /// window; and a refusal's wait is exact: one nanosecond earlier is
    /// still refused.
    #[test]
    fn never_admits_more_than_burst_plus_rate_in_any_window(
        burst in 1_u32..6,
        interval_ms in 1_u64..50,
        steps in proptest::collection::vec(0_u64..120, 1..80),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let _entered = rt.enter();
        // Paused time stands still: the limiter's origin is exactly `t0`.
        let t0 = tokio::time::Instant::now();
        let limiter = RateLimiter::with_burst(1, Duration::from_millis(interval_ms), burst);
        let times: Vec<u64> = steps.iter().scan(0, |t, s| { *t += s; Some(*t) }).collect();
        let mut waits_exact = Ok(());
        let admitted = admitted_times(&times, |t| {
            let at = t0 + Duration::from_millis(t);
            let result = limiter.check_at(at);
            if let Err(wait) = result
                && !wait.is_zero()
                && limiter.check_at(at + wait - Duration::from_nanos(1)).is_ok()
            {
                waits_exact = Err(TestCaseError::fail(format!("admitted before the announced wait at {t} ms")));
            }
            result
        });
        waits_exact?;
        within_bound(&admitted, u64::from(burst), interval_ms)?;
    }

    /// The same bound holds for every key of a keyed limiter, whatever the
    /// interleaving of keys.
    #[test]
    fn keyed_never_admits_more_than_burst_plus_rate_per_key(
        burst in 1_u32..4,
        checks in proptest::collection::vec((0_u64..60, 0_u8..3), 1..80),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let limiter = KeyedRateLimiter::builder(1, Duration::from_millis(20)).burst(burst).build();
        let mut admitted: [Vec<u64>; 3] = Default::default();
        let mut t = 0;
        rt.block_on(async {
            for (step, key) in checks {
                tokio::time::advance(Duration::from_millis(step)).await;
                t += step;
                if limiter.check(key).is_ok() {
                    admitted[usize::from(key)].push(t);
                }
            }
        });
        for times in &admitted {
            within_bound(times, u64::from(burst), 20)?;
        }
    }
}
