//! Gateway tokens, cached in memory per scope until shortly before they expire.
//!
//! Each call asks only for the scope it needs (least privilege), so one token per scope is kept.
//! A slot's lock is held while its token is fetched: concurrent callers of the same scope wait
//! for that one fetch instead of each asking the gateway.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::InsiderError;

/// What a call asks the gateway for. The vendor documents a scope for each webhook CRUD call and
/// none for the settings calls, so those ask for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayScope {
    Read,
    Manage,
    Update,
    Delete,
    Settings,
}

impl GatewayScope {
    const COUNT: usize = 5;

    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Read => &["wa-webhook-read"],
            Self::Manage => &["wa-webhook-manage"],
            Self::Update => &["wa-webhook-update"],
            Self::Delete => &["wa-webhook-delete"],
            Self::Settings => &[],
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// When the gateway does not say how long a token lives; its tokens live up to 90 minutes, so
/// this only costs an extra fetch now and then.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);
/// Renew this long before the end at most, so a token does not expire between taking it from
/// the cache and the vendor checking it.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(60);

struct Cached {
    token: Arc<str>,
    renew_at: Instant,
}

#[derive(Default)]
pub struct GatewayTokens {
    slots: [Mutex<Option<Cached>>; GatewayScope::COUNT],
}

impl GatewayTokens {
    /// The cached token of `scope`, or a new one from `fetch`, which returns the token and its
    /// `expires_in` in seconds.
    pub async fn get<F, Fut>(&self, scope: GatewayScope, fetch: F) -> Result<Arc<str>, InsiderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Option<u64>), InsiderError>>,
    {
        let mut slot = self.slots[scope.slot()].lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.renew_at
        {
            return Ok(Arc::clone(&cached.token));
        }
        let fetched_at = Instant::now();
        let (token, expires_in) = fetch().await?;
        let lifetime = expires_in.map_or(ASSUMED_LIFETIME, Duration::from_secs);
        let token: Arc<str> = token.into();
        *slot = Some(Cached {
            token: Arc::clone(&token),
            renew_at: fetched_at + lifetime - renewal_margin(lifetime),
        });
        Ok(token)
    }

    /// Forgets `token` after the vendor refused it, unless a concurrent caller already
    /// replaced it with a newer one.
    pub async fn invalidate(&self, scope: GatewayScope, token: &str) {
        let mut slot = self.slots[scope.slot()].lock().await;
        if slot.as_ref().is_some_and(|c| &*c.token == token) {
            *slot = None;
        }
    }
}

/// A tenth of the lifetime, at most [`MAX_RENEWAL_MARGIN`].
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_RENEWAL_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_cached_per_scope_and_dropped_when_refused() {
        let tokens = GatewayTokens::default();
        let fetch = |name: &'static str| async move { Ok((name.to_owned(), Some(3600))) };
        assert_eq!(
            &*tokens.get(GatewayScope::Read, || fetch("a")).await.unwrap(),
            "a"
        );
        assert_eq!(
            &*tokens.get(GatewayScope::Read, || fetch("b")).await.unwrap(),
            "a"
        );
        assert_eq!(
            &*tokens
                .get(GatewayScope::Delete, || fetch("c"))
                .await
                .unwrap(),
            "c"
        );
        tokens
            .invalidate(GatewayScope::Read, "not-the-cached-one")
            .await;
        assert_eq!(
            &*tokens.get(GatewayScope::Read, || fetch("d")).await.unwrap(),
            "a"
        );
        tokens.invalidate(GatewayScope::Read, "a").await;
        assert_eq!(
            &*tokens.get(GatewayScope::Read, || fetch("e")).await.unwrap(),
            "e"
        );
    }

    #[tokio::test]
    async fn a_token_without_lifetime_left_is_fetched_again() {
        let tokens = GatewayTokens::default();
        let fetch = |name: &'static str| async move { Ok((name.to_owned(), Some(0))) };
        tokens
            .get(GatewayScope::Manage, || fetch("a"))
            .await
            .unwrap();
        assert_eq!(
            &*tokens
                .get(GatewayScope::Manage, || fetch("b"))
                .await
                .unwrap(),
            "b"
        );
    }

    #[test]
    fn renewal_margin_is_a_tenth_capped_at_a_minute() {
        assert_eq!(
            renewal_margin(Duration::from_secs(5400)),
            MAX_RENEWAL_MARGIN
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(20)),
            Duration::from_secs(2)
        );
    }
}
