//! The progress bar on stderr (only when stderr is a terminal): jobs done of the total, the
//! rate, the ETA once the total is known, and failures so far. `indicatif` draws it at most
//! 20 times a second and starts no thread (no steady tick: the event loop ticks it).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `{rate}`: jobs per second, one decimal.
fn with_rate(s: ProgressStyle) -> ProgressStyle {
    s.with_key(
        "rate",
        |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}/s", st.per_sec());
        },
    )
}

/// A progress bar, or nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    known_total: bool,
}

/// How often the event loop should tick a visible bar (for the clock and the ETA).
pub const TICK: Duration = Duration::from_millis(250);

impl Progress {
    /// No bar.
    pub fn hidden() -> Self {
        Self {
            bar: None,
            known_total: false,
        }
    }

    /// A bar on stderr.
    pub fn stderr() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(Self::spinner_style());
        Self {
            bar: Some(bar),
            known_total: false,
        }
    }

    fn spinner_style() -> ProgressStyle {
        ProgressStyle::with_template("{elapsed_precise} {pos} jobs done ({rate}) {msg}")
            .map(with_rate)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn bar_style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} jobs ({rate}, ETA {eta}) {msg}",
        )
        .map(|s| with_rate(s).progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    /// True if a bar is drawn.
    pub fn visible(&self) -> bool {
        self.bar.is_some()
    }

    /// The number of jobs, once known (switches to a bar with an ETA).
    pub fn set_total(&mut self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            if !self.known_total {
                b.set_style(Self::bar_style());
                self.known_total = true;
            }
        }
    }

    /// Jobs done so far, and a short note (failures).
    pub fn update(&self, done: u64, note: &str) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.set_message(note.to_string());
        }
    }

    /// Redraws (the clock and ETA move even when no job finishes).
    pub fn tick(&self) {
        if let Some(b) = &self.bar {
            b.tick();
        }
    }

    /// Runs `f` with the bar cleared, so other output does not mix with it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar for good.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
