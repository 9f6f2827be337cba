//! The broker's answers to the bus's [`Command`]s: from its state at once, or, for work that
//! takes time (running hooks, policy routing), in a task of its own so that the loop goes on.

use tokio::sync::oneshot;
use tracing::info;

use crate::hooks::{self, BatchResult, DryRun, HookEvent};
use crate::model::IfIndex;
use crate::routing;

use super::command::{Command, CommandError, HookAsk, RoutingCommand};
use super::{requests, Broker};

impl Broker {
    /// Answers one command.
    pub(super) fn answer(&mut self, command: Command) {
        match command {
            Command::Routing(command) => answer_routing(self.effects.routing.clone(), command),
            #[cfg(test)]
            Command::PrepareHooks(ask) => {
                let request = self.hook_request(ask.event, ask.index);
                let _ = ask.reply.send(request);
            }
            Command::DryRunHooks(ask) => self.dry_run_hooks(ask),
            Command::RunHooks(ask) => self.run_hooks(ask),
            Command::ListHooks(reply) => {
                let hooks = self.effects.hooks.clone();
                tokio::spawn(async move {
                    let result = match hooks.list().await {
                        Some(listed) => listed.map_err(CommandError::ListHooks),
                        None => Err(CommandError::Stopping),
                    };
                    let _ = reply.send(result);
                });
            }
        }
    }

    /// The scripts, environment and input `RunHooks` would give, from the runner.
    fn dry_run_hooks(&self, ask: HookAsk<DryRun>) {
        let Some((request, reply)) = self.prepare(ask) else {
            return;
        };
        let hooks = self.effects.hooks.clone();
        tokio::spawn(async move {
            let result = match hooks.dry_run(request).await {
                Some(result) => result.map_err(CommandError::Hooks),
                None => Err(CommandError::Stopping),
            };
            let _ = reply.send(result);
        });
    }

    /// Runs the hooks on request; the runner answers when the scripts are done, and the
    /// broker goes on meanwhile.
    fn run_hooks(&self, ask: HookAsk<BatchResult>) {
        let index = ask.index;
        let Some((request, reply)) = self.prepare(ask) else {
            return;
        };
        let event = request.event.clone();
        info!(
            ifindex = index,
            event = %event,
            "running the {event} hooks of link {index} on request (RunHooks())"
        );
        let outcome = self.effects.hooks.run(request);
        tokio::spawn(async move {
            let result = outcome.await.map_err(|_| CommandError::Stopping);
            let _ = reply.send(result);
        });
    }

    /// The request `ask` is about and where its answer goes; `None` when there is none, and
    /// the refusal has been sent.
    fn prepare<T>(&self, ask: HookAsk<T>) -> Option<(hooks::Request, Reply<T>)> {
        match self.hook_request(ask.event, ask.index) {
            Ok(request) => Some((request, ask.reply)),
            Err(err) => {
                let _ = ask.reply.send(Err(err));
                None
            }
        }
    }

    /// The request `event` of this link gets now (see [`requests::on_request`]).
    fn hook_request(
        &self,
        event: HookEvent,
        index: IfIndex,
    ) -> Result<hooks::Request, CommandError> {
        let view = self
            .state
            .link(index)
            .ok_or(CommandError::NoSuchLink(index))?;
        let table = self.routing_settings.routing_table(&view.attrs);
        Ok(requests::on_request(view, table, event))
    }
}

/// Where a command's answer goes.
type Reply<T> = oneshot::Sender<Result<T, CommandError>>;

/// Passes a routing command to the actor, which answers in its own time.
fn answer_routing(routing: routing::Handle, command: RoutingCommand) {
    tokio::spawn(async move {
        match command {
            RoutingCommand::Reconcile(reply) => {
                let result = routing.reconcile_now().await;
                let _ = reply.send(result.map_err(CommandError::Routing));
            }
            RoutingCommand::Status(reply) => {
                let result = routing.status().await;
                let _ = reply.send(result.map_err(CommandError::Routing));
            }
        }
    });
}
