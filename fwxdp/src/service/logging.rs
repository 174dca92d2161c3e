//! The long-running commands' log: lines on stderr that journald stamps itself (no time, no
//! colours); under journald each line starts with its syslog priority, so that
//! `journalctl -p err` finds the errors.

/// Installs the log subscriber. Under journald (systemd sets `JOURNAL_STREAM`), each line
/// starts with its priority (`<3>` for errors...).
pub fn init() {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.event_format(JournalPriority).init();
    } else {
        builder.init();
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
