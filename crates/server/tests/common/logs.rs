//! Every log line of a test binary, for tests that assert what the server logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Captures every log line of this test binary (a global subscriber: scoped ones miss
/// events from callsites first hit on other test threads).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The binary's capture, installed at DEBUG on first use.
    pub fn global() -> Logs {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let me = logs.clone();
            let sub = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || me.clone())
                .finish();
            tracing::subscriber::set_global_default(sub).unwrap();
            logs
        })
        .clone()
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
