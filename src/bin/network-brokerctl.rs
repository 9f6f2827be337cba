//! `network-brokerctl`: the command-line client of org.freedesktop.NetworkBroker1.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zbus::Connection;

use network_broker::dbus::client::{LinkProxy, ManagerProxy};

/// Query the network broker daemon over the system bus.
#[derive(Debug, Parser)]
#[command(name = "network-brokerctl", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon's version and how many links it knows (the default).
    Status,
    /// Every link: index, name, operational state, addresses.
    Links,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("network-brokerctl: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.command.unwrap_or(Command::Status))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("network-brokerctl: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let conn = Connection::system()
        .await
        .context("cannot connect to the system bus")?;
    let manager = ManagerProxy::new(&conn).await?;
    match command {
        Command::Status => {
            let version = manager
                .version()
                .await
                .context("is network-broker running?")?;
            let links = manager.list_links().await?;
            println!("network-broker {version}, {} links", links.len());
        }
        Command::Links => {
            println!("{:>5} {:<16} {:<15} ADDRESSES", "INDEX", "NAME", "STATE");
            for (index, name, path) in manager.list_links().await? {
                let link = LinkProxy::builder(&conn).path(path).build().await?;
                let state = link.operational_state().await.unwrap_or_default();
                let addresses: Vec<String> = link
                    .addresses()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(ip, len)| format!("{ip}/{len}"))
                    .collect();
                println!("{index:>5} {name:<16} {state:<15} {}", addresses.join(" "));
            }
        }
    }
    Ok(())
}
