//! Who may try a secret how often: pure logic, time passed in (no clock, no IO), applied by
//! the dashboard's guard and by head office.
//!
//! - [`Throttle`]: failed PIN or token attempts per client. The first few failures are
//!   free (a typo); after that each failure makes the client wait longer before its next
//!   try, and a run of failures locks it out for a while, each lockout longer than the last.
//!   The server answers a waiting client `429` with `Retry-After`; it never holds a
//!   connection open to slow it down.
//! - [`RateLimit`]: a token bucket per key (head office: per station token).
//!
//! Both keep at most a bounded number of keys: the oldest quiet entries are forgotten
//! first, so a flood of new addresses cannot grow memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How hard failed attempts are held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures in a row before any delay (typos).
    pub free_failures: u32,
    /// The wait after the first delayed failure; it doubles with each further failure.
    pub first_delay: Duration,
    /// Failures in a row that lock the client out.
    pub lockout_after: u32,
    /// The first lockout; each further lockout of the same client doubles it...
    pub lockout: Duration,
    /// ...up to this.
    pub max_lockout: Duration,
    /// A client quiet (no failure) this long starts afresh.
    pub forget_after: Duration,
    /// Most clients remembered at once.
    pub max_clients: usize,
}

impl Default for ThrottlePolicy {
    /// Two free tries, then 5 s, 10 s; the fifth failure in a row locks the client out for
    /// 15 minutes, then 30, 60, ... up to a day. A client that guesses as fast as it is let
    /// makes 5 tries in its first minute and then about 5 per lockout: a 4-digit PIN's
    /// 10,000 values take months.
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 2,
            first_delay: Duration::from_secs(5),
            lockout_after: 5,
            lockout: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(24 * 3600),
            forget_after: Duration::from_secs(48 * 3600),
            max_clients: 4096,
        }
    }
}

/// Whether a client may try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Slowed down: try again after this.
    Wait(Duration),
    /// Locked out: try again after this.
    Locked(Duration),
}

impl Gate {
    /// How long the client must wait, if it must.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Gate::Open => None,
            Gate::Wait(d) | Gate::Locked(d) => Some(d),
        }
    }
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Failures in a row, this one included.
    pub in_a_row: u32,
    /// The wait before the next try (zero while failures are free).
    pub wait: Duration,
    /// This failure started a lockout (log it, count it).
    pub locked_out: bool,
}

#[derive(Debug, Clone, Copy)]
struct Client {
    in_a_row: u32,
    lockouts: u32,
    not_before: Instant,
    locked: bool,
    last: Instant,
}

/// Failed attempts per client (`K`: an address or a prefix of one).
#[derive(Debug)]
pub struct Throttle<K> {
    policy: ThrottlePolicy,
    clients: HashMap<K, Client>,
}

impl<K: Eq + Hash + Clone> Throttle<K> {
    pub fn new(policy: ThrottlePolicy) -> Throttle<K> {
        Throttle {
            policy,
            clients: HashMap::new(),
        }
    }

    /// May `key` try a secret at `now`?
    pub fn check(&self, key: &K, now: Instant) -> Gate {
        let Some(c) = self.clients.get(key) else {
            return Gate::Open;
        };
        if now >= c.not_before {
            return Gate::Open;
        }
        let left = c.not_before - now;
        if c.locked {
            Gate::Locked(left)
        } else {
            Gate::Wait(left)
        }
    }

    /// `key` presented a wrong secret at `now`.
    pub fn failure(&mut self, key: &K, now: Instant) -> Failure {
        let p = self.policy;
        if !self.clients.contains_key(key) {
            self.make_room(now);
        }
        let c = self.clients.entry(key.clone()).or_insert(Client {
            in_a_row: 0,
            lockouts: 0,
            not_before: now,
            locked: false,
            last: now,
        });
        if now.saturating_duration_since(c.last) >= p.forget_after {
            *c = Client {
                in_a_row: 0,
                lockouts: 0,
                not_before: now,
                locked: false,
                last: now,
            };
        }
        c.last = now;
        c.in_a_row = c.in_a_row.saturating_add(1);
        let (wait, locked_out) = if c.in_a_row >= p.lockout_after {
            let shift = c.lockouts.min(16);
            let wait = p
                .lockout
                .checked_mul(1 << shift)
                .unwrap_or(p.max_lockout)
                .min(p.max_lockout);
            c.lockouts = c.lockouts.saturating_add(1);
            c.in_a_row = 0;
            (wait, true)
        } else if c.in_a_row > p.free_failures {
            let shift = (c.in_a_row - p.free_failures - 1).min(16);
            let wait = p
                .first_delay
                .checked_mul(1 << shift)
                .unwrap_or(p.lockout)
                .min(p.lockout);
            (wait, false)
        } else {
            (Duration::ZERO, false)
        };
        c.not_before = now + wait;
        c.locked = locked_out;
        Failure {
            // Reported as counted before a lockout reset it.
            in_a_row: if locked_out {
                p.lockout_after
            } else {
                c.in_a_row
            },
            wait,
            locked_out,
        }
    }

    /// `key` presented the right secret: its run of failures ends (its lockout history,
    /// which makes the next lockout longer, is kept until it has been quiet a while).
    pub fn success(&mut self, key: &K) {
        if let Some(c) = self.clients.get_mut(key) {
            c.in_a_row = 0;
            c.locked = false;
            c.not_before = c.last;
        }
    }

    /// How many clients are remembered.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Forgets clients quiet for `forget_after`; if still full, the one quiet longest that
    /// is not held back now.
    fn make_room(&mut self, now: Instant) {
        if self.clients.len() < self.policy.max_clients {
            return;
        }
        let forget = self.policy.forget_after;
        self.clients
            .retain(|_, c| now.saturating_duration_since(c.last) < forget);
        if self.clients.len() < self.policy.max_clients {
            return;
        }
        // Prefer forgetting a client that is free to try anyway; a locked one only if
        // every remembered client is held back (then the oldest).
        let victim = self
            .clients
            .iter()
            .min_by_key(|(_, c)| (c.not_before > now, c.last))
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.clients.remove(&k);
        }
    }
}

/// The key a client is throttled by: its IPv4 address, or its IPv6 /64 (one host commonly
/// holds a whole /64, so counting single IPv6 addresses would count nothing).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A token bucket per key: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimit<K> {
    burst: u32,
    per_minute: u32,
    max_keys: usize,
    buckets: HashMap<K, (f64, Instant)>,
}

impl<K: Eq + Hash + Clone> RateLimit<K> {
    pub fn new(per_minute: u32, burst: u32, max_keys: usize) -> RateLimit<K> {
        RateLimit {
            burst: burst.max(1),
            per_minute: per_minute.max(1),
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one request from `key`'s bucket at `now`: `Ok`, or the wait until one is
    /// there.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(self.per_minute) / 60.0; // per second
        let burst = f64::from(self.burst);
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            // Full buckets carry no state worth keeping.
            self.buckets.retain(|_, (level, at)| {
                *level + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= self.max_keys
                && let Some(k) = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                self.buckets.remove(&k);
            }
        }
        let (level, at) = self.buckets.entry(key.clone()).or_insert((burst, now));
        let refilled =
            (*level + now.saturating_duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if refilled >= 1.0 {
            *level = refilled - 1.0;
            Ok(())
        } else {
            *level = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// An attacker that tries as soon as it is let, for `span`: the instants of its tries.
    fn guess_as_fast_as_allowed(
        t: &mut Throttle<u8>,
        start: Instant,
        span: Duration,
    ) -> Vec<Instant> {
        let mut now = start;
        let mut tries = Vec::new();
        while now < start + span {
            match t.check(&1, now) {
                Gate::Open => {
                    tries.push(now);
                    t.failure(&1, now);
                    // A fast client: 2,000 tries a second when nothing stops it.
                    now += Duration::from_micros(500);
                }
                Gate::Wait(d) | Gate::Locked(d) => now += d,
            }
        }
        tries
    }

    #[test]
    fn a_guesser_gets_a_few_tries_a_minute_at_most() {
        let mut t = Throttle::new(ThrottlePolicy::default());
        let start = Instant::now();
        let day = Duration::from_secs(24 * 3600);
        let tries = guess_as_fast_as_allowed(&mut t, start, day);
        // No minute holds more than 5 tries.
        for (i, at) in tries.iter().enumerate() {
            let in_minute = tries[i..]
                .iter()
                .take_while(|x| x.duration_since(*at) < 60 * S)
                .count();
            assert!(
                in_minute <= 5,
                "{in_minute} tries in the minute from try {i}"
            );
        }
        // Over a day: 5 tries per lockout, lockouts of 15 min, 30, 60, ... (7 of them).
        assert!(tries.len() <= 40, "{} tries in a day", tries.len());
        // Without the throttle it would have been 2,000 a second.
    }

    #[test]
    fn free_tries_then_growing_waits_then_a_lockout() {
        let p = ThrottlePolicy::default();
        let mut t = Throttle::new(p);
        let now = Instant::now();
        let f1 = t.failure(&7u8, now);
        let f2 = t.failure(&7u8, now);
        assert_eq!((f1.wait, f2.wait), (Duration::ZERO, Duration::ZERO));
        assert_eq!(t.check(&7, now), Gate::Open);
        let f3 = t.failure(&7u8, now);
        assert_eq!(f3.wait, 5 * S);
        assert_eq!(t.check(&7, now + 2 * S), Gate::Wait(3 * S));
        assert_eq!(
            t.check(&8, now),
            Gate::Open,
            "another client is not held back"
        );
        let now = now + 5 * S;
        assert_eq!(t.check(&7, now), Gate::Open);
        assert_eq!(t.failure(&7u8, now).wait, 10 * S);
        let now = now + 10 * S;
        let f5 = t.failure(&7u8, now);
        assert!(f5.locked_out);
        assert_eq!(f5.in_a_row, 5);
        assert_eq!(f5.wait, 15 * 60 * S);
        assert_eq!(t.check(&7, now + 60 * S), Gate::Locked(14 * 60 * S));
        // The next run of failures locks it out twice as long.
        let mut now = now + 15 * 60 * S;
        let mut last = None;
        for _ in 0..5 {
            if let Some(d) = t.check(&7, now).retry_after() {
                now += d;
            }
            last = Some(t.failure(&7u8, now));
        }
        let last = last.unwrap();
        assert!(last.locked_out);
        assert_eq!(last.wait, 30 * 60 * S);
    }

    #[test]
    fn the_right_secret_ends_the_run() {
        let mut t = Throttle::new(ThrottlePolicy::default());
        let now = Instant::now();
        for _ in 0..3 {
            t.failure(&1u8, now);
        }
        assert!(matches!(t.check(&1, now), Gate::Wait(_)));
        t.success(&1);
        assert_eq!(t.check(&1, now), Gate::Open);
        assert_eq!(t.failure(&1u8, now).wait, Duration::ZERO, "free again");
    }

    #[test]
    fn memory_is_bounded_and_locked_clients_are_kept_longest() {
        let p = ThrottlePolicy {
            max_clients: 10,
            ..ThrottlePolicy::default()
        };
        let mut t = Throttle::new(p);
        let now = Instant::now();
        for _ in 0..5 {
            t.failure(&0u32, now);
        }
        assert!(matches!(t.check(&0, now), Gate::Locked(_)));
        for k in 1..1000u32 {
            t.failure(&k, now + Duration::from_millis(u64::from(k)));
        }
        assert!(t.len() <= 10);
        assert!(
            matches!(t.check(&0, now + S), Gate::Locked(_)),
            "a flood of new addresses does not free a locked-out one"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut r = RateLimit::new(60, 3, 100);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.take(&"a", now), Ok(()));
        }
        let wait = r.take(&"a", now).unwrap_err();
        assert!(wait <= S && wait > Duration::from_millis(900), "{wait:?}");
        assert_eq!(r.take(&"b", now), Ok(()), "per key");
        assert_eq!(r.take(&"a", now + S), Ok(()));
        assert!(r.take(&"a", now + S).is_err());
        // In a minute at full speed: the burst plus one a second.
        let mut n = 0;
        let mut t = now + 10 * S;
        let mut r = RateLimit::new(60, 3, 100);
        while t < now + 70 * S {
            if r.take(&"c", t).is_ok() {
                n += 1;
            }
            t += Duration::from_millis(10);
        }
        assert!((60..=64).contains(&n), "{n}");
    }

    #[test]
    fn the_bucket_table_is_bounded() {
        let mut r = RateLimit::new(60, 2, 8);
        let now = Instant::now();
        for k in 0..100u32 {
            let _ = r.take(&k, now);
        }
        assert!(r.buckets.len() <= 8);
    }
}
