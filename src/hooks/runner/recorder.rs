//! A stand-in for the runner that runs nothing ([`Recorder`]), for tests of the broker.

use tokio::sync::mpsc;

use super::{Command, Handle, Stats};
use crate::hooks::{BatchResult, Request};

/// A stand-in for the runner that runs nothing: it records the requests it is handed, so
/// tests of the broker check exactly which hooks would run, in which order, without spawning
/// processes (the model-based tests of `broker::model_tests`).
pub(crate) struct Recorder {
    rx: mpsc::UnboundedReceiver<Command>,
}

impl Handle {
    /// A handle whose requests go to the returned [`Recorder`] instead of a runner.
    pub(crate) fn recording() -> (Handle, Recorder) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Handle { tx }, Recorder { rx })
    }
}

impl Recorder {
    /// The requests submitted since the last call, in submission order. Each is answered as
    /// a batch that ran to its end (no scripts), as a runner with empty directories would.
    pub(crate) fn take(&mut self) -> Vec<Request> {
        let mut taken = Vec::new();
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Submit(request, reply) => {
                    reply.send(BatchResult {
                        event: request.event.to_string(),
                        ifindex: request.link.as_ref().map(|link| link.attrs.index),
                        results: Vec::new(),
                        complete: true,
                        coalesced: 0,
                    });
                    taken.push(*request);
                }
                Command::Idle(done) => drop(done.send(())),
                Command::Stats(reply) => drop(reply.send(Stats::default())),
                Command::Shutdown { done, .. } => drop(done.send(())),
                Command::DryRun(_, reply) => drop(reply),
                Command::Settings(_) | Command::Reconfigure(_) | Command::Follow(_) => {}
            }
        }
        taken
    }
}
