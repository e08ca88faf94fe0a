//! Two measurements around the load runs: the load generator while a scraper reads
//! `/metrics/prometheus` (the cost of metrics while they are read), and the first hook call
//! after `plugwire serve` became healthy against warm calls of the same process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::args::Kind;
use crate::load::{Session, Target};
use crate::measure::Sample;
use crate::payload::RequestTemplate;
use crate::phases::gen_sample;
use crate::procs::Server;
use crate::report::FirstCall;
use crate::servers::{progress, Ctx};
use crate::stats::median;

/// How often the scraper reads the metrics (a busy Prometheus scrapes every few seconds; this
/// is far more often, to make the cost visible if there is one).
pub const SCRAPE_EVERY: Duration = Duration::from_millis(100);

/// Scrapes done and failed, and the first failure.
#[derive(Debug, Default)]
struct ScrapeStats {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
}

/// One `GET /metrics/prometheus` over plain HTTP/1.1 (the health port); the exposition must
/// answer 200 and carry upstream's `plugin_info` gauge.
async fn scrape(port: u16) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(
        b"GET /metrics/prometheus HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    s.read_to_end(&mut text).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text);
    if text.starts_with("HTTP/1.1 200") && text.contains("plugin_info") {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {}",
            text.lines().next().unwrap_or("(empty)")
        ))
    }
}

/// The load generator's sample against `server` while `/metrics/prometheus` on its health port
/// (port + 1000) is scraped every [`SCRAPE_EVERY`]; a failed scrape counts as an error.
pub(crate) async fn scraped_sample(
    ctx: &Ctx,
    target: &Arc<Target>,
    session: &Session,
    server: &Server,
    concurrency: usize,
    calls: usize,
) -> Sample {
    let stats = Arc::new(Mutex::new(ScrapeStats::default()));
    let port = server.port + 1000;
    let scraper = {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SCRAPE_EVERY);
            loop {
                tick.tick().await;
                let r = scrape(port).await;
                if let Ok(mut st) = stats.lock() {
                    match r {
                        Ok(()) => st.ok += 1,
                        Err(e) => {
                            st.failed += 1;
                            st.first_error.get_or_insert(e);
                        }
                    }
                }
            }
        })
    };
    let mut sample = gen_sample(ctx, target, session, server, concurrency, calls, false).await;
    scraper.abort();
    if let Ok(st) = stats.lock() {
        if st.failed > 0 || st.ok == 0 {
            sample.errors += st.failed.max(1);
            let why = st
                .first_error
                .clone()
                .unwrap_or_else(|| "no scrape done".into());
            sample.first_error.get_or_insert(format!("scrape: {why}"));
        }
    }
    sample
}

/// The first call on a fresh server and [`WARM_CALLS`] more, each on a new connection:
/// (connect, call) durations.
async fn first_and_warm(
    ctx: &Ctx,
    port: u16,
    template: &RequestTemplate,
) -> crate::Result<(TimedCall, Vec<TimedCall>)> {
    let target = ctx.target(port)?;
    let first = target.fresh_call(template.with_id(1)).await?;
    let mut warm = Vec::with_capacity(WARM_CALLS);
    for id in 0..WARM_CALLS {
        warm.push(target.fresh_call(template.with_id(id as u64 + 2)).await?);
    }
    Ok((first, warm))
}

/// (TCP + TLS + HTTP handshake, the hook call on that connection).
type TimedCall = (Duration, Duration);

/// Calls of the same kind made on a warm server after the first one, per start.
const WARM_CALLS: usize = 20;

/// `starts` fresh `plugwire serve` processes: for each, the first call after healthy (new
/// connection, TLS handshake, one hook call) and then [`WARM_CALLS`] calls made the same way.
pub(crate) async fn first_call(ctx: &Ctx, starts: usize) -> FirstCall {
    let mut out = FirstCall {
        warm_calls: WARM_CALLS,
        ..FirstCall::default()
    };
    let template = RequestTemplate::invoke_hook();
    for i in 0..starts {
        progress(&format!(
            "first call after start {}/{starts}: plugwire serve",
            i + 1
        ));
        let mut server = match ctx.start(Kind::Plugwire, 200 + i) {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        };
        let result = first_and_warm(ctx, server.port, &template).await;
        server.stop();
        match result {
            Ok(((connect, call), warm)) => {
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                out.first_us.push(us(connect + call));
                out.first_call_only_us.push(us(call));
                let totals: Vec<f64> = warm.iter().map(|(a, b)| us(*a + *b)).collect();
                let calls: Vec<f64> = warm.iter().map(|(_, b)| us(*b)).collect();
                out.warm_us.push(median(&totals));
                out.warm_call_only_us.push(median(&calls));
            }
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    out
}
