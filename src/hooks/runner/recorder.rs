//! A stand-in for the runner that runs nothing ([`Recorder`]), for tests of the broker.

use tokio::sync::mpsc;

use super::{Command, Handle, Reply, Stats};
use crate::hooks::{BatchResult, Request, ScriptResult};

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

/// A request handed to the [`Recorder`], with the means to answer it as the runner would.
/// Dropping it unanswered is what the runner does with a request it drops (coalesced away,
/// or queued when the daemon stopped): the broker hears "did not run".
pub(crate) struct Submitted {
    /// The request.
    pub(crate) request: Request,
    reply: Reply,
}

impl Submitted {
    /// Answers as a batch whose scripts gave `results`; `complete`: every script ran to its
    /// end (false: the shutdown skipped or killed one).
    pub(crate) fn finish(self, results: Vec<ScriptResult>, complete: bool) {
        self.reply.send(BatchResult {
            event: self.request.event.clone(),
            ifindex: self.request.link.as_ref().map(|link| link.attrs.index),
            results,
            complete,
            coalesced: 0,
        });
    }
}

impl Recorder {
    /// The next request submitted, waiting for it, unanswered; `None` once every handle is
    /// gone. Other commands are answered as a runner with nothing to do would.
    pub(crate) async fn next(&mut self) -> Option<Submitted> {
        loop {
            match self.rx.recv().await? {
                Command::Submit(request, reply) => {
                    return Some(Submitted {
                        request: *request,
                        reply,
                    })
                }
                other => answer_idle(other),
            }
        }
    }

    /// The requests submitted since the last call, in submission order. Each is answered as
    /// a batch that ran to its end (no scripts), as a runner with empty directories would.
    pub(crate) fn take(&mut self) -> Vec<Request> {
        let mut taken = Vec::new();
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Submit(request, reply) => {
                    reply.send(BatchResult {
                        event: request.event.clone(),
                        ifindex: request.link.as_ref().map(|link| link.attrs.index),
                        results: Vec::new(),
                        complete: true,
                        coalesced: 0,
                    });
                    taken.push(*request);
                }
                other => answer_idle(other),
            }
        }
        taken
    }
}

/// Answers a command other than a submission as a runner with nothing queued would.
fn answer_idle(command: Command) {
    match command {
        Command::Idle(done) => drop(done.send(())),
        Command::Stats(reply) => drop(reply.send(Stats::default())),
        Command::Shutdown { done, .. } => drop(done.send(())),
        Command::DryRun(_, reply) => drop(reply),
        Command::List(reply) => drop(reply.send(Ok(Vec::new()))),
        Command::Submit(..)
        | Command::Settings(_)
        | Command::Reconfigure(_)
        | Command::Follow(_) => {}
    }
}
