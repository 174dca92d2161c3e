//! The HTTP side: `GET /metrics`, `GET /` with a link to it, 404 and 405 for the rest.

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};

use super::{encode, series};
use crate::state::PinRoot;

/// prometheus-client's encoding, for scrapers that ask for it (Prometheus does).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic text format, for everyone else (curl, promtool).
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

struct ScrapeState {
    root: PinRoot,
    options: series::Options,
    /// One render at a time: a client that asks and leaves at once must not pile up
    /// renders in the blocking pool the service attaches interfaces with.
    rendering: Arc<Semaphore>,
}

/// The exposition text of every interface under `root`, as one scrape returns it.
///
/// # Errors
/// When the encoder fails, which should never happen (it writes into a `String`).
pub fn render(root: &PinRoot, options: &series::Options) -> Result<String, std::fmt::Error> {
    let (interfaces, errors) = series::interfaces(root, options);
    let unattached: Vec<String> = options
        .unattached
        .lock()
        .map(|failed| {
            failed
                .keys()
                .filter(|name| !interfaces.iter().any(|i| i.name == **name))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    encode::text(interfaces, &unattached, errors)
}

/// How long a client may take to send a request's headers, from when it connects (or its
/// last answer): a scraper sends them at once.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection lives, requests and all; a scraper that keeps its connection
/// open makes another.
const CONNECTION_LIFETIME: Duration = Duration::from_mins(2);
/// The most connections served at once. Beyond it, new ones are closed at accept.
const MAX_CONNECTIONS: usize = 4096;
/// Descriptors kept out of the exporter's reach: a reload attaches with a few dozen.
const RESERVED_DESCRIPTORS: usize = 256;

/// The connection cap for this process: [`MAX_CONNECTIONS`], or fewer when its descriptor
/// limit would not leave [`RESERVED_DESCRIPTORS`] for everything else.
fn connection_cap() -> usize {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| {
            usize::try_from(soft).unwrap_or(usize::MAX)
        });
    MAX_CONNECTIONS
        .min(limit.saturating_sub(RESERVED_DESCRIPTORS))
        .max(1)
}

/// Serves the metrics of every interface under `root` on `listener` until `shutdown`
/// completes. Each connection must send its headers within [`HEADER_TIMEOUT`] and lives
/// at most [`CONNECTION_LIFETIME`]; at most [`connection_cap`] are served at once, so idle
/// or slow clients can neither hold the exporter nor use up the process's descriptors.
pub async fn serve(
    listener: TcpListener,
    root: PinRoot,
    options: series::Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state = Arc::new(ScrapeState {
        root,
        options,
        rendering: Arc::new(Semaphore::new(1)),
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/", get(index))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try /metrics\n") })
        .with_state(state);
    let slots = Arc::new(Semaphore::new(connection_cap()));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (or a connection reset before accept): wait a
                    // moment rather than spin.
                    tracing::warn!("metrics: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: closed at once, so it holds nothing.
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // The connection's own error (a reset, a timeout) concerns only that client.
            let _: Result<Result<(), hyper::Error>, _> =
                tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

async fn metrics(State(state): State<Arc<ScrapeState>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    // Waiting here is given up when the client leaves, so no render is queued for it; the
    // render holds the permit until it is done, even when its client is gone.
    let Ok(permit) = state.rendering.clone().acquire_owned().await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response();
    };
    // Reading the maps is a few hundred bpf(2) calls: keep them off the async workers.
    let task = state.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let body = render(&task.root, &task.options);
        drop(permit);
        body
    })
    .await;
    let Ok(Ok(body)) = rendered else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response();
    };
    if openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
    } else {
        ([(header::CONTENT_TYPE, CLASSIC)], classic(&body)).into_response()
    }
}

/// The classic text format of an `OpenMetrics` text: a counter's HELP and TYPE name its
/// samples (`x_total`, not `x`), and there is no `# EOF` or `# UNIT`.
fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><title>fwxdp</title><h1>fwxdp</h1>\
         <p><a href=\"/metrics\">/metrics</a></p>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::classic;

    #[test]
    fn classic_names_counter_families_after_their_samples() {
        let openmetrics = "# HELP a_drops Drops.\n# TYPE a_drops counter\n\
                           a_drops_total{x=\"1\"} 3\n# HELP b Up.\n# TYPE b gauge\nb 1\n# EOF\n";
        assert_eq!(
            classic(openmetrics),
            "# HELP a_drops_total Drops.\n# TYPE a_drops_total counter\n\
             a_drops_total{x=\"1\"} 3\n# HELP b Up.\n# TYPE b gauge\nb 1\n"
        );
    }
}
