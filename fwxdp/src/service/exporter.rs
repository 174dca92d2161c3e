//! The exporter task the service runs when its config has a `[metrics]` table.

use std::io;

use tokio::task::JoinHandle;
use tracing::{error, info};

use super::{config::ServiceConfig, error::DaemonError};
use crate::{metrics, state::PinRoot};

/// The exporter task, when `[metrics]` asks for one.
#[derive(Default)]
pub(super) struct ExporterTask {
    task: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<io::Result<()>>)>,
}

impl ExporterTask {
    /// Starts serving, when `config` asks for an exporter.
    pub(super) async fn start(
        root: &PinRoot,
        config: &ServiceConfig,
        unattached: metrics::Unattached,
    ) -> Result<Self, DaemonError> {
        let Some(settings) = config.metrics else {
            return Ok(Self::default());
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                listen: settings.listen,
                source,
            })?;
        info!(listen = %settings.listen, "serving metrics");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = metrics::Options {
            max_port_series: settings.max_port_series,
            unattached,
        };
        let task = tokio::spawn(metrics::serve(listener, root.clone(), options, async {
            // A dropped sender stops the exporter as well as a sent stop.
            let _: Result<(), _> = stopped.await;
        }));
        Ok(Self {
            task: Some((stop, task)),
        })
    }

    /// Serves as `next` asks, when it asks otherwise than `current`: the old exporter
    /// stopped, a new one started (a failure to listen is logged, and there is none).
    pub(super) async fn switch(
        &mut self,
        root: &PinRoot,
        current: &ServiceConfig,
        next: &ServiceConfig,
        unattached: metrics::Unattached,
    ) {
        if next.metrics == current.metrics {
            return;
        }
        self.stop().await;
        *self = match Self::start(root, next, unattached).await {
            Ok(exporter) => exporter,
            Err(e) => {
                error!("metrics: {}", crate::error::chain(&e));
                Self::default()
            }
        };
    }

    /// Stops serving and waits for the task to end.
    pub(super) async fn stop(&mut self) {
        if let Some((stop, task)) = self.task.take() {
            // The task may have ended already; its result says how.
            let _: Result<(), ()> = stop.send(());
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!("metrics: the exporter failed: {e}"),
                Err(e) => error!("metrics: the exporter task failed: {e}"),
            }
        }
    }
}
