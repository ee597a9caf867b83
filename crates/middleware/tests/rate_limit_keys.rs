//! Key extractors for the keyed rate limiter: the peer address, forwarding
//! headers believed only as far as the configured trust goes, IPv6 keyed
//! by prefix, and the global key.
#![cfg(feature = "rate-limit")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use evenkeel_middleware::rate_limit::key::{ForwardedIp, GlobalKey, PeerIp, TrustedProxies};
use evenkeel_middleware::rate_limit::{KeyExtractor, KeyedRateLimiter};
use evenkeel_middleware::{Error, KeyedRateLimitLayer};
use tower::{Layer, ServiceExt, service_fn};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A request from `peer` (as a `SocketAddr` extension) with `headers`.
fn req(peer: Option<&str>, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::builder();
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(()).unwrap();
    if let Some(p) = peer {
        r.extensions_mut().insert(SocketAddr::new(ip(p), 40_000));
    }
    r
}

/// The peer address is the key; IPv4-mapped IPv6 counts as IPv4; IPv6 is
/// keyed by /64 unless told otherwise; no peer address gives `None`.
#[test]
fn peer_ip_normalises_addresses() {
    let key = PeerIp::new();
    assert_eq!(
        key.extract(&req(Some("203.0.113.7"), &[])),
        Some(ip("203.0.113.7"))
    );
    assert_eq!(
        key.extract(&req(Some("::ffff:203.0.113.7"), &[])),
        Some(ip("203.0.113.7"))
    );
    assert_eq!(
        key.extract(&req(Some("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), &[])),
        Some(ip("2001:db8:1:2::"))
    );
    assert_eq!(
        key.ipv6_prefix(128).extract(&req(Some("2001:db8::9"), &[])),
        Some(ip("2001:db8::9"))
    );
    assert_eq!(key.extract(&req(None, &[])), None);
}

/// `X-Forwarded-For` with a number of trusted hops: the client is the
/// entry that many places from the right, whatever the client prepended;
/// without the header the peer address is used; `Hops(0)` trusts nothing.
#[test]
fn forwarded_for_believes_only_the_trusted_hops() {
    let spoofed = [(
        "x-forwarded-for",
        "1.1.1.1, 2.2.2.2, 198.51.100.9, 10.0.0.2",
    )];
    let one = ForwardedIp::x_forwarded_for(TrustedProxies::Hops(1));
    let two = ForwardedIp::x_forwarded_for(TrustedProxies::Hops(2));
    let none = ForwardedIp::x_forwarded_for(TrustedProxies::Hops(0));
    assert_eq!(
        one.extract(&req(Some("10.0.0.1"), &spoofed)),
        Some(ip("10.0.0.2"))
    );
    assert_eq!(
        two.extract(&req(Some("10.0.0.1"), &spoofed)),
        Some(ip("198.51.100.9"))
    );
    assert_eq!(
        none.extract(&req(Some("10.0.0.1"), &spoofed)),
        Some(ip("10.0.0.1"))
    );
    assert_eq!(
        one.extract(&req(Some("10.0.0.1"), &[])),
        Some(ip("10.0.0.1"))
    );
    // Several header lines form one list; an unparsable client claim to the
    // left does not matter, an unparsable entry at the client's place
    // falls back to the peer.
    let lines = [
        ("x-forwarded-for", "junk, 7.7.7.7"),
        ("x-forwarded-for", "198.51.100.9"),
    ];
    assert_eq!(
        two.extract(&req(Some("10.0.0.1"), &lines)),
        Some(ip("7.7.7.7"))
    );
    let junk = [("x-forwarded-for", "junk")];
    assert_eq!(
        one.extract(&req(Some("10.0.0.1"), &junk)),
        Some(ip("10.0.0.1"))
    );
}

/// With trusted networks, a header is believed only from a peer inside
/// them, and the client is the rightmost entry outside them.
#[test]
fn forwarded_for_with_trusted_networks() {
    let nets: Arc<[(IpAddr, u8)]> = Arc::from([(ip("10.0.0.0"), 8), (ip("fd00::"), 8)]);
    let key = ForwardedIp::x_forwarded_for(TrustedProxies::Networks(nets));
    let chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.9, 10.1.2.3")];
    assert_eq!(
        key.extract(&req(Some("10.0.0.1"), &chain)),
        Some(ip("198.51.100.9"))
    );
    // From an untrusted peer the header is ignored.
    assert_eq!(
        key.extract(&req(Some("203.0.113.5"), &chain)),
        Some(ip("203.0.113.5"))
    );
    // No peer address: nothing can be trusted.
    assert_eq!(key.extract(&req(None, &chain)), None);
}

/// `X-Real-IP` and other single-value headers: the nearest trusted proxy's
/// value, with brackets and ports accepted, IPv6 keyed by /64.
#[test]
fn single_value_headers() {
    let key = ForwardedIp::x_real_ip(TrustedProxies::Hops(1));
    assert_eq!(
        key.extract(&req(Some("10.0.0.1"), &[("x-real-ip", "198.51.100.9")])),
        Some(ip("198.51.100.9"))
    );
    assert_eq!(
        key.extract(&req(
            Some("10.0.0.1"),
            &[("x-real-ip", "[2001:db8::1:2:3:4]:443")]
        )),
        Some(ip("2001:db8::"))
    );
    let cf = ForwardedIp::single_header(
        http::HeaderName::from_static("cf-connecting-ip"),
        TrustedProxies::Hops(1),
    );
    assert_eq!(
        cf.extract(&req(
            Some("10.0.0.1"),
            &[("cf-connecting-ip", "192.0.2.44:9")]
        )),
        Some(ip("192.0.2.44"))
    );
}

/// Behind the keyed layer, a client rotating spoofed `X-Forwarded-For`
/// values is still limited by the address the trusted proxy appended.
#[tokio::test(start_paused = true)]
async fn spoofed_forwarding_headers_do_not_escape_the_limit() {
    let limiter = KeyedRateLimiter::new(1, Duration::from_secs(1));
    let svc = KeyedRateLimitLayer::new(
        limiter,
        ForwardedIp::x_forwarded_for(TrustedProxies::Hops(1)),
    )
    .layer(service_fn(|_: http::Request<()>| async {
        Ok::<_, std::io::Error>(())
    }));
    let spoof = |n: u8| {
        req(
            Some("10.0.0.1"),
            &[("x-forwarded-for", &format!("9.9.9.{n}, 198.51.100.9"))],
        )
    };
    assert!(svc.clone().oneshot(spoof(1)).await.is_ok());
    for n in 2..10 {
        assert!(matches!(
            svc.clone().oneshot(spoof(n)).await,
            Err(Error::RateLimited { .. })
        ));
    }
}

/// The global key puts every request in one bucket.
#[tokio::test(start_paused = true)]
async fn global_key_is_one_bucket() {
    let limiter = KeyedRateLimiter::new(2, Duration::from_secs(1));
    let svc = KeyedRateLimitLayer::new(limiter.clone(), GlobalKey).layer(service_fn(
        |_: http::Request<()>| async { Ok::<_, std::io::Error>(()) },
    ));
    assert!(
        svc.clone()
            .oneshot(req(Some("192.0.2.1"), &[]))
            .await
            .is_ok()
    );
    assert!(
        svc.clone()
            .oneshot(req(Some("192.0.2.2"), &[]))
            .await
            .is_ok()
    );
    assert!(svc.oneshot(req(Some("192.0.2.3"), &[])).await.is_err());
    assert_eq!(limiter.len(), 1);
}

/// Threads hammering one keyed table at once: every key admits exactly its
/// burst (no token spent twice across shards and sweeps), and while other
/// threads rotate through fresh keys the table stays near `max_keys`
/// (at most 9/8 of it, plus one per racing thread) without
/// deadlocking a sweep against concurrent lookups.
#[test]
fn concurrent_checks_and_sweeps_keep_the_burst_and_the_bound() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let limiter = KeyedRateLimiter::builder(1, Duration::from_secs(3600))
        .burst(3)
        .max_keys(64)
        .build();
    let admitted: Arc<[AtomicUsize; 8]> = Arc::new(Default::default());
    let threads: Vec<_> = (0..4_u32)
        .map(|t| {
            let limiter = limiter.clone();
            let admitted = admitted.clone();
            std::thread::spawn(move || {
                for i in 0..2_000_u32 {
                    // Hot keys 0..8, shared by all threads...
                    let hot = i % 8;
                    if limiter.check(hot).is_ok() {
                        admitted[hot as usize].fetch_add(1, Ordering::Relaxed);
                    }
                    // ...and a fresh key per iteration per thread.
                    let _ = limiter.check(1_000 + t * 10_000 + i);
                    // 9/8 of max_keys, plus one per thread racing the cap.
                    assert!(limiter.len() <= 72 + 4, "table at {}", limiter.len());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Sweeps evict the active keys nearest replenishment first: the
    // rotating keys (one interval ahead) go before the hot ones (three
    // intervals ahead), so every hot key kept its state and admitted
    // exactly its burst of 3, however the threads interleaved.
    for (key, n) in admitted.iter().enumerate() {
        assert_eq!(n.load(Ordering::Relaxed), 3, "hot key {key}");
    }
}
