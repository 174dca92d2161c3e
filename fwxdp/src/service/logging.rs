//! The long-running commands' log. Under systemd (`JOURNAL_STREAM` set) it goes to the
//! journal's own socket with its priority and every field as a journal field, so that
//! `journalctl -p err` finds the errors and `journalctl INTERFACE=eth0` one interface's
//! lines; where that socket cannot be reached, to stderr with each line's priority in
//! front. Elsewhere, plain lines on stderr (no time, no colours).

use tracing_subscriber::layer::SubscriberExt as _;

/// Installs the log subscriber.
pub fn init() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_none() {
        builder.init();
        return;
    }
    match tracing_journald::layer() {
        Ok(journal) => {
            // Fields as they are named (`interface` is INTERFACE), not prefixed with F_.
            let journal = journal
                .with_field_prefix(None)
                .with_syslog_identifier("fwxdp".to_owned());
            let subscriber = tracing_subscriber::registry().with(journal);
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                // Installed already: the first one stays.
            }
        }
        Err(_) => builder.event_format(JournalPriority).init(),
    }
}

/// A log line as journald reads it: `<priority>message key=value...`.
struct JournalPriority;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            tracing::Level::DEBUG | tracing::Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
