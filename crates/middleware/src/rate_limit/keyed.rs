//! [`KeyedRateLimit`]: one GCRA cell per key, in a table of bounded size.
//!
//! The table maps each key to its theoretical arrival time. A key whose
//! arrival time has passed is indistinguishable from a key never seen, so
//! when the table is full those entries are dropped first, losing nothing.
//! If every entry is still active, the ones closest to replenishment are
//! evicted (those keys regain at most part of one burst). Memory is
//! therefore bounded by `max_keys` however many distinct keys arrive.
//!
//! The key comes from the request, which `poll_ready` does not see, so the
//! decision is taken in `call`. To keep the rule that a rejecting layer
//! holds no inner readiness, this layer reports ready at once and an
//! admitted request awaits the inner service's readiness inside its
//! response future (the inner service must be `Clone`, as for tower's
//! `Oneshot`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::future::KeyedResponseFuture;
use super::gcra::{decide, now_since, params};
use crate::admit::Admit;
use crate::error::{Error, LayerError};
use crate::ready_call::{ReadyCall, take_service};

/// A rate limiter with one GCRA cell per key; clones share the table.
///
/// # Defaults
///
/// Burst `num` (as [`RateLimiter::new`](super::RateLimiter::new)); at most
/// 10 000 keys ([`max_keys`](KeyedRateLimiter::max_keys)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::rate_limit::KeyedRateLimiter;
///
/// let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
/// assert!(limiter.check("alice").is_ok());
/// assert!(limiter.check("bob").is_ok());
/// assert!(limiter.check("alice").is_err());
/// assert_eq!(limiter.len(), 2);
/// ```
#[derive(Debug)]
pub struct KeyedRateLimiter<K> {
    state: Arc<KeyedState<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Debug)]
struct KeyedState<K> {
    base: Instant,
    num: u32,
    per: Duration,
    burst: u32,
    emission: u64,
    tolerance: u64,
    max_keys: usize,
    table: Mutex<HashMap<K, u64>>,
}

impl<K: Hash + Eq> KeyedRateLimiter<K> {
    /// `num` requests per `per` for each key, burst `num`.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u32>::new(10, std::time::Duration::from_secs(1));
    /// assert!(l.is_empty());
    /// ```
    pub fn new(num: u32, per: Duration) -> Self {
        Self::build(num, per, num, 10_000)
    }

    fn build(num: u32, per: Duration, burst: u32, max_keys: usize) -> Self {
        let (emission, tolerance) = params(num, per, burst);
        Self {
            state: Arc::new(KeyedState {
                base: Instant::now(),
                num,
                per,
                burst,
                emission,
                tolerance,
                max_keys: max_keys.max(1),
                table: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sets the burst per key (0 is treated as 1). Returns a new limiter:
    /// configure before cloning.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(10, std::time::Duration::from_secs(1)).burst(1);
    /// assert!(l.check(1).is_ok());
    /// assert!(l.check(1).is_err());
    /// ```
    #[must_use]
    pub fn burst(self, burst: u32) -> Self {
        let s = &self.state;
        Self::build(s.num, s.per, burst, s.max_keys)
    }

    /// Bounds the table to `max_keys` entries (0 is treated as 1). Returns a
    /// new limiter: configure before cloning.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(1, std::time::Duration::from_secs(1)).max_keys(2);
    /// for key in 0..10 {
    ///     assert!(l.check(key).is_ok());
    /// }
    /// assert!(l.len() <= 2);
    /// ```
    #[must_use]
    pub fn max_keys(self, max_keys: usize) -> Self {
        let s = &self.state;
        Self::build(s.num, s.per, s.burst, max_keys)
    }

    /// Admits one request for `key` now, or says how long until one would be.
    ///
    /// # Errors
    ///
    /// `Err(retry_after)` when `key`'s rate is spent.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(1, std::time::Duration::from_secs(1));
    /// assert!(l.check("k").is_ok());
    /// assert!(l.check("k").unwrap_err() <= std::time::Duration::from_secs(1));
    /// ```
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let s = &*self.state;
        let now = now_since(s.base);
        let mut table = s.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tat) = table.get_mut(&key) {
            *tat = decide(*tat, now, s.emission, s.tolerance)?;
            return Ok(());
        }
        let tat = decide(0, now, s.emission, s.tolerance)?;
        if table.len() >= s.max_keys {
            // Replenished entries behave exactly like absent ones.
            table.retain(|_, t| *t > now);
        }
        if table.len() >= s.max_keys
            && let Some(oldest) = table.values().copied().min()
        {
            table.retain(|_, t| *t != oldest);
        }
        table.insert(key, tat);
        Ok(())
    }

    /// How many keys the table holds now.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::new(1, std::time::Duration::from_secs(1));
    /// l.check('a').ok();
    /// assert_eq!(l.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.state
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the table is empty.
    ///
    /// ```
    /// let l = evenkeel_middleware::rate_limit::KeyedRateLimiter::<u8>::new(1, std::time::Duration::from_secs(1));
    /// assert!(l.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rejects requests beyond a rate per key, the key taken from the request.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, Error, KeyedRateLimitLayer};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
/// let svc = ServiceBuilder::new()
///     .layer(KeyedRateLimitLayer::new(limiter, |req: &(&str, u8)| req.0.to_owned()))
///     .service_fn(|req: (&str, u8)| async move { Ok::<_, std::io::Error>(req.1) });
///
/// assert_eq!(svc.clone().oneshot(("alice", 1)).await.unwrap(), 1);
/// assert_eq!(svc.clone().oneshot(("bob", 2)).await.unwrap(), 2);
/// assert!(matches!(svc.clone().oneshot(("alice", 3)).await, Err(Error::RateLimited { .. })));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct KeyedRateLimit<S, F, K> {
    inner: S,
    limiter: KeyedRateLimiter<K>,
    key: F,
}

impl<S, F, K> KeyedRateLimit<S, F, K> {
    /// Limits `inner` per key, with `key` extracting the key from a request.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimit};
    /// let limiter = KeyedRateLimiter::<u8>::new(5, std::time::Duration::from_secs(1));
    /// let svc = KeyedRateLimit::new(tower::service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), limiter, |x: &u8| *x);
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, limiter: KeyedRateLimiter<K>, key: F) -> Self {
        Self {
            inner,
            limiter,
            key,
        }
    }
}

impl<S, F, K, Req> Service<Req> for KeyedRateLimit<S, F, K>
where
    S: Service<Req> + Clone,
    S::Error: LayerError,
    F: Fn(&Req) -> K,
    K: Hash + Eq,
{
    type Response = S::Response;
    type Error = Error<<S::Error as LayerError>::Inner>;
    type Future = KeyedResponseFuture<S, Req>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited inside the response future, after admission.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = match self.limiter.check((self.key)(&req)) {
            Ok(()) => Admit::called(ReadyCall::new(take_service(&mut self.inner), req)),
            Err(retry_after) => Admit::rejected(Error::RateLimited { retry_after }),
        };
        KeyedResponseFuture::new(inner)
    }
}

/// Applies [`KeyedRateLimit`]; every service it makes shares one table.
///
/// ```
/// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimitLayer};
/// let layer = KeyedRateLimitLayer::new(
///     KeyedRateLimiter::<Option<http::HeaderValue>>::new(10, std::time::Duration::from_secs(1)),
///     |req: &http::Request<()>| req.headers().get("x-api-key").cloned(),
/// );
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct KeyedRateLimitLayer<F, K> {
    limiter: KeyedRateLimiter<K>,
    key: F,
}

impl<F, K> KeyedRateLimitLayer<F, K> {
    /// A layer sharing `limiter`, keyed by `key`.
    ///
    /// ```
    /// use evenkeel_middleware::{rate_limit::KeyedRateLimiter, KeyedRateLimitLayer};
    /// let layer = KeyedRateLimitLayer::new(KeyedRateLimiter::<u8>::new(1, std::time::Duration::from_secs(1)), |x: &u8| *x);
    /// # let _ = layer;
    /// ```
    pub fn new(limiter: KeyedRateLimiter<K>, key: F) -> Self {
        Self { limiter, key }
    }
}

impl<S, F: Clone, K> Layer<S> for KeyedRateLimitLayer<F, K> {
    type Service = KeyedRateLimit<S, F, K>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimit::new(inner, self.limiter.clone(), self.key.clone())
    }
}
