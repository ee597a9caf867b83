//! Where a [`KeyedRateLimit`](super::KeyedRateLimit) finds the key of a
//! request: [`KeyExtractor`], any `Fn(&Req) -> K`, and the extractors
//! `tower_governor` users expect.
//!
//! | extractor | key | use when |
//! |---|---|---|
//! | [`PeerIp`] | the connection's peer address | clients connect directly |
//! | [`ForwardedIp`] | the client address a trusted proxy recorded in `X-Forwarded-For`, `X-Real-IP` or another header | behind a load balancer or reverse proxy |
//! | [`GlobalKey`] | `()`: one bucket for everyone | a keyed stack that should limit globally |
//! | a closure | anything | an API key, a tenant, a route |
//!
//! # Trusting forwarding headers
//!
//! A forwarding header is written by whoever sent the request, so a client
//! can put any address in it, and a limiter keyed on it is a limiter the
//! client chooses its own key for: a new address per request and it is
//! never limited. [`ForwardedIp`] therefore requires an explicit
//! [`TrustedProxies`]: how many proxies stand in front of the service, or
//! which addresses they have; only what those proxies wrote is believed,
//! and the peer address is used when the header cannot be trusted.
//!
//! # IPv6
//!
//! One IPv6 host usually owns a whole /64, and can rotate through 2⁶⁴
//! addresses. The IP extractors therefore key IPv6 clients by their /64
//! prefix by default ([`PeerIp::ipv6_prefix`], [`ForwardedIp::ipv6_prefix`]);
//! IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! A request whose address cannot be found (no peer address recorded, an
//! unparsable header and no peer) gets the key `None`: all such requests
//! share one bucket, so a misconfiguration shows as over-limiting rather
//! than as no limit at all.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use http::HeaderName;

/// Takes the rate-limit key from a request.
///
/// Implemented by every `Fn(&Req) -> K` and by [`PeerIp`],
/// [`ForwardedIp`] and [`GlobalKey`].
///
/// ```
/// use evenkeel_middleware::rate_limit::KeyExtractor;
///
/// let by_tenant = |req: &http::Request<()>| req.headers().get("x-tenant").cloned();
/// let req = http::Request::builder().header("x-tenant", "acme").body(()).unwrap();
/// assert_eq!(by_tenant.extract(&req).unwrap(), "acme");
/// ```
pub trait KeyExtractor<Req> {
    /// The key type.
    type Key: Hash + Eq;

    /// The key of `req`.
    fn extract(&self, req: &Req) -> Self::Key;
}

impl<Req, K, F> KeyExtractor<Req> for F
where
    F: Fn(&Req) -> K,
    K: Hash + Eq,
{
    type Key = K;

    fn extract(&self, req: &Req) -> K {
        self(req)
    }
}

/// One key, `()`, for every request: a keyed stack that limits globally.
///
/// ```
/// use evenkeel_middleware::rate_limit::{key::GlobalKey, KeyExtractor};
/// let () = GlobalKey.extract(&http::Request::new(()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalKey;

impl<Req> KeyExtractor<Req> for GlobalKey {
    type Key = ();

    fn extract(&self, _: &Req) {}
}

/// The connection's peer IP address, from the request's extensions: axum's
/// `ConnectInfo<SocketAddr>` (with the `axum` feature; serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`) or a plain
/// `SocketAddr` extension.
///
/// # Defaults
///
/// IPv6 addresses keyed by their /64 prefix.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use evenkeel_middleware::rate_limit::{key::PeerIp, KeyExtractor};
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(SocketAddr::from(([203, 0, 113, 7], 4242)));
/// assert_eq!(PeerIp::new().extract(&req), Some(IpAddr::from([203, 0, 113, 7])));
/// assert_eq!(PeerIp::new().extract(&http::Request::new(())), None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PeerIp {
    ipv6_prefix: u8,
}

impl Default for PeerIp {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerIp {
    /// The extractor, with IPv6 clients keyed by /64.
    ///
    /// ```
    /// let _ = evenkeel_middleware::rate_limit::key::PeerIp::new();
    /// ```
    pub fn new() -> Self {
        Self { ipv6_prefix: 64 }
    }

    /// Keys IPv6 addresses by their first `bits` bits (128 for the exact
    /// address; values above 128 count as 128).
    ///
    /// ```
    /// use std::net::{IpAddr, SocketAddr};
    /// use evenkeel_middleware::rate_limit::{key::PeerIp, KeyExtractor};
    ///
    /// let mut req = http::Request::new(());
    /// req.extensions_mut().insert("2001:db8::1:2:3:4".parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 1)).unwrap());
    /// assert_eq!(PeerIp::new().extract(&req), Some("2001:db8::".parse().unwrap()));
    /// assert_eq!(PeerIp::new().ipv6_prefix(128).extract(&req), Some("2001:db8::1:2:3:4".parse().unwrap()));
    /// ```
    #[must_use]
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits.min(128);
        self
    }
}

impl<B> KeyExtractor<http::Request<B>> for PeerIp {
    type Key = Option<IpAddr>;

    fn extract(&self, req: &http::Request<B>) -> Option<IpAddr> {
        peer(req).map(|ip| normalise(ip, self.ipv6_prefix))
    }
}

/// The peer address recorded in the request's extensions.
fn peer<B>(req: &http::Request<B>) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<::axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    req.extensions().get::<SocketAddr>().map(SocketAddr::ip)
}

/// IPv4-mapped addresses as IPv4; IPv6 masked to `prefix` bits.
fn normalise(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(mask(v6.to_bits(), prefix))),
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn mask(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => bits,
        p => bits & (u128::MAX << (128 - u32::from(p))),
    }
}

/// Which proxies in front of the service are believed when they write a
/// forwarding header. See the [module docs](self).
#[derive(Debug, Clone)]
pub enum TrustedProxies {
    /// This many proxies stand in front of the service, each appending to
    /// `X-Forwarded-For` (or, for a single-value header, the nearest one
    /// overwriting it). The client is the entry that many places from the
    /// right. 0 trusts nothing: the peer address is the key.
    Hops(usize),
    /// The proxies' networks, as `(address, prefix length)`. A header is
    /// believed only from a peer inside one of them, and the client is the
    /// rightmost `X-Forwarded-For` entry outside them.
    Networks(Arc<[(IpAddr, u8)]>),
}

impl TrustedProxies {
    /// Whether `ip` is inside a trusted network.
    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            Self::Hops(_) => false,
            Self::Networks(nets) => {
                nets.iter().any(
                    |&(net, prefix)| match (ip.to_canonical(), net.to_canonical()) {
                        (IpAddr::V4(a), IpAddr::V4(n)) => {
                            let p = prefix.min(32);
                            let m = if p == 0 {
                                0
                            } else {
                                u32::MAX << (32 - u32::from(p))
                            };
                            a.to_bits() & m == n.to_bits() & m
                        }
                        (IpAddr::V6(a), IpAddr::V6(n)) => {
                            mask(a.to_bits(), prefix) == mask(n.to_bits(), prefix)
                        }
                        _ => false,
                    },
                )
            }
        }
    }
}

/// The client IP a trusted proxy recorded in a forwarding header, falling
/// back to the peer address ([`PeerIp`]) when the header is absent,
/// unparsable or not to be trusted.
///
/// # Defaults
///
/// IPv6 addresses keyed by their /64 prefix.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
/// use evenkeel_middleware::rate_limit::KeyExtractor;
///
/// // One load balancer in front: it appends the address it saw.
/// let key = ForwardedIp::x_forwarded_for(TrustedProxies::Hops(1));
/// let req = http::Request::builder()
///     .header("x-forwarded-for", "6.6.6.6, 198.51.100.9") // "6.6.6.6" is the client's own claim
///     .body(())
///     .unwrap();
/// assert_eq!(key.extract(&req), Some(IpAddr::from([198, 51, 100, 9])));
/// ```
#[derive(Debug, Clone)]
pub struct ForwardedIp {
    header: HeaderName,
    /// Whether the header is a list (`X-Forwarded-For`) or one address.
    list: bool,
    trust: TrustedProxies,
    ipv6_prefix: u8,
}

impl ForwardedIp {
    /// `X-Forwarded-For`, a comma-separated list each proxy appends to.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
    /// let _ = ForwardedIp::x_forwarded_for(TrustedProxies::Hops(2));
    /// ```
    pub fn x_forwarded_for(trust: TrustedProxies) -> Self {
        Self::list_header(HeaderName::from_static("x-forwarded-for"), trust)
    }

    /// `X-Real-IP`, one address the nearest proxy sets (nginx's
    /// `proxy_set_header X-Real-IP $remote_addr`).
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
    /// let _ = ForwardedIp::x_real_ip(TrustedProxies::Hops(1));
    /// ```
    pub fn x_real_ip(trust: TrustedProxies) -> Self {
        Self::single_header(HeaderName::from_static("x-real-ip"), trust)
    }

    /// Another header holding one address (`CF-Connecting-IP`,
    /// `Fly-Client-IP`...), set by the nearest trusted proxy.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
    /// let _ = ForwardedIp::single_header(http::HeaderName::from_static("cf-connecting-ip"), TrustedProxies::Hops(1));
    /// ```
    pub fn single_header(header: HeaderName, trust: TrustedProxies) -> Self {
        Self {
            header,
            list: false,
            trust,
            ipv6_prefix: 64,
        }
    }

    /// Another header in `X-Forwarded-For`'s comma-separated format.
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
    /// let _ = ForwardedIp::list_header(http::HeaderName::from_static("x-client-chain"), TrustedProxies::Hops(1));
    /// ```
    pub fn list_header(header: HeaderName, trust: TrustedProxies) -> Self {
        Self {
            list: true,
            ..Self::single_header(header, trust)
        }
    }

    /// Keys IPv6 addresses by their first `bits` bits (see [`PeerIp::ipv6_prefix`]).
    ///
    /// ```
    /// use evenkeel_middleware::rate_limit::key::{ForwardedIp, TrustedProxies};
    /// let _ = ForwardedIp::x_real_ip(TrustedProxies::Hops(1)).ipv6_prefix(56);
    /// ```
    #[must_use]
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits.min(128);
        self
    }

    /// The client address, before normalisation.
    fn client<B>(&self, req: &http::Request<B>) -> Option<IpAddr> {
        let peer = peer(req);
        if let TrustedProxies::Networks(_) = self.trust
            && !peer.is_some_and(|p| self.trust.trusts(p))
        {
            return peer; // The header came from someone we do not trust.
        }
        let mut values = req.headers().get_all(&self.header).iter();
        // Unparsable entries stay in place (as `None`): positions matter.
        let mut chain: Vec<Option<IpAddr>> = if self.list {
            values
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(parse_ip)
                .collect()
        } else {
            values
                .next_back()
                .map(|v| v.to_str().ok().and_then(parse_ip))
                .into_iter()
                .collect()
        };
        let found = match &self.trust {
            TrustedProxies::Hops(0) => None,
            TrustedProxies::Hops(n) if self.list => {
                // Entries right of the client were written by trusted hops;
                // with fewer entries than hops, the leftmost is the client.
                let i = chain.len().saturating_sub(*n);
                chain.get(i).copied().flatten()
            }
            TrustedProxies::Hops(_) => chain.pop().flatten(),
            TrustedProxies::Networks(_) => chain
                .iter()
                .rev()
                .find(|ip| !ip.is_some_and(|ip| self.trust.trusts(ip)))
                .or(chain.first())
                .copied()
                .flatten(),
        };
        found.or(peer)
    }
}

/// One address from a header entry: `1.2.3.4`, `2001:db8::1`,
/// `[2001:db8::1]:80` or `1.2.3.4:80`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

impl<B> KeyExtractor<http::Request<B>> for ForwardedIp {
    type Key = Option<IpAddr>;

    fn extract(&self, req: &http::Request<B>) -> Option<IpAddr> {
        self.client(req).map(|ip| normalise(ip, self.ipv6_prefix))
    }
}
