//! The broker's answers to the bus's [`Command`]s: from its state at once, or, for work that
//! takes time (running hooks, policy routing), in a task of its own so that the loop goes on.

use tracing::info;

use crate::hooks::{self, HookEvent};
use crate::model::IfIndex;
use crate::routing;

use super::command::{Command, CommandError, RoutingCommand};
use super::{requests, Broker};

impl Broker {
    /// Answers one command.
    pub(super) fn answer(&mut self, command: Command) {
        match command {
            Command::Routing(command) => answer_routing(self.effects.routing.clone(), command),
            #[cfg(test)]
            Command::PrepareHooks {
                event,
                index,
                reply,
            } => {
                let _ = reply.send(self.hook_request(event, index));
            }
            Command::DryRunHooks {
                event,
                index,
                reply,
            } => match self.hook_request(event, index) {
                Err(err) => drop(reply.send(Err(err))),
                Ok(request) => {
                    let hooks = self.effects.hooks.clone();
                    tokio::spawn(async move {
                        let result = match hooks.dry_run(request).await {
                            Some(result) => result.map_err(CommandError::Hooks),
                            None => Err(CommandError::Stopping),
                        };
                        let _ = reply.send(result);
                    });
                }
            },
            Command::RunHooks {
                event,
                index,
                reply,
            } => match self.hook_request(event, index) {
                Err(err) => drop(reply.send(Err(err))),
                Ok(request) => {
                    let event = request.event.clone();
                    info!(
                        ifindex = index,
                        event = %event,
                        "running the {event} hooks of link {index} on request (RunHooks())"
                    );
                    let outcome = self.effects.hooks.run(request);
                    // The runner answers when the scripts are done; the broker goes on.
                    tokio::spawn(async move {
                        let result = outcome.await.map_err(|_| CommandError::Stopping);
                        let _ = reply.send(result);
                    });
                }
            },
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
        Ok(requests::on_request(view, event))
    }
}

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
