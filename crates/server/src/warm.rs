//! Work the first hook call would otherwise pay, done before the server reports healthy.
//!
//! Why: aws-lc seeds its random generator on first use, and the first use is the first TLS
//! handshake's key share, i.e. the first call a gateway makes after `/health` said ready. This
//! workspace builds aws-lc to seed from the operating system (`.cargo/config.toml`,
//! docs/decisions.md #71), which takes about 0.1 ms; a build without that setting seeds from CPU
//! jitter entropy, tens of milliseconds (some 400M instructions). Either way, drawing a few random
//! bytes at start moves the cost before healthy, where start-up pays it once.

use std::time::{Duration, Instant};

/// Seeds aws-lc's generator (the crypto provider's, so the same one rustls draws from) and
/// returns how long it took. A failure only means the first handshake seeds it instead.
pub fn warm_up() -> Duration {
    let start = Instant::now();
    let mut seed = [0u8; 32];
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    if provider.secure_random.fill(&mut seed).is_err() {
        tracing::debug!("could not draw random bytes at start; the first handshake seeds aws-lc");
    }
    let took = start.elapsed();
    tracing::debug!("seeded the TLS random generator in {took:?}");
    took
}

#[cfg(test)]
mod tests {
    #[test]
    fn warming_up_draws_random_bytes_and_can_repeat() {
        // The second draw uses the seeded generator: it must work and not block.
        let _ = super::warm_up();
        let _ = super::warm_up();
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        let p = rustls::crypto::aws_lc_rs::default_provider();
        p.secure_random.fill(&mut a).unwrap();
        p.secure_random.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
