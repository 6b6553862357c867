//! Answering one request of the control API: binding changes and lists on the binding table,
//! `mn` requests to the MAAR, statistics from the datapath.

use std::{future::Future, sync::Arc};

use anchor_maar::{MaarError, MaarHandle, mn_id_from_mac};
use anchor_pmip::error_chain;
use anchor_signal::MnId;
use ipnet::Ipv6Net;
use tokio::sync::Mutex;

use super::protocol::{
    BindingInfo, BindingStatsInfo, ErrorKind, MnListReport, Request, Response, StatsReport,
    binding_kind,
};
use crate::{
    binding_table::{BindingTable, DatapathPort, TableError},
    datapath::DatapathError,
    prefix::parse_binding_prefix,
    routing::Routes,
};

/// The table shared by the connections.
pub type SharedTable<D, R> = Arc<Mutex<BindingTable<D, R>>>;

fn table_error(error: &TableError) -> Response {
    let kind = match error {
        _ if error.is_full() => ErrorKind::MapFull,
        TableError::Prefix(_) => ErrorKind::InvalidPrefix,
        TableError::Duplicate { .. } => ErrorKind::Duplicate,
        TableError::Unknown { .. } => ErrorKind::UnknownPrefix,
        TableError::InvalidPeer { .. } => ErrorKind::InvalidPeer,
        TableError::NotAccessInterface { .. } => ErrorKind::InvalidDev,
        TableError::Route(_) => ErrorKind::Route,
        // `Full` is caught by `is_full` above.
        TableError::Full { .. } => ErrorKind::MapFull,
        TableError::Datapath { .. } => ErrorKind::Datapath,
    };
    Response::Error {
        kind,
        message: error_chain(error),
    }
}

pub(super) async fn dispatch<D, R>(
    request: Request,
    table: &SharedTable<D, R>,
    maar: Option<&MaarHandle>,
) -> Response
where
    D: DatapathPort,
    R: Routes,
{
    match request {
        Request::AddBinding {
            prefix,
            serving,
            home,
            reverse_tunnel,
            dev,
            mac,
        } => {
            let prefix = match parse_binding_prefix(&prefix) {
                Ok(prefix) => prefix,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::InvalidPrefix,
                        message: error_chain(&e),
                    };
                }
            };
            let kind = match binding_kind(serving, home, reverse_tunnel, dev, mac.as_deref()) {
                Ok(kind) => kind,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::BadRequest,
                        message: e.to_string(),
                    };
                }
            };
            let result = table.lock().await.add(prefix, kind).await;
            match result {
                Ok(binding) => {
                    tracing::info!(
                        "added {} binding {}",
                        BindingInfo::from(&binding).kind.as_str(),
                        binding.prefix
                    );
                    Response::Ok
                }
                Err(e) => table_error(&e),
            }
        }
        Request::DelBinding { prefix } => {
            let prefix = match parse_binding_prefix(&prefix) {
                Ok(prefix) => prefix,
                Err(e) => {
                    return Response::Error {
                        kind: ErrorKind::InvalidPrefix,
                        message: error_chain(&e),
                    };
                }
            };
            let result = table.lock().await.remove(prefix).await;
            match result {
                Ok(binding) => {
                    tracing::info!("removed binding {}", binding.prefix);
                    Response::Ok
                }
                Err(e) => table_error(&e),
            }
        }
        Request::ListBindings => {
            let table = table.lock().await;
            Response::Bindings {
                bindings: table.bindings().map(BindingInfo::from).collect(),
            }
        }
        Request::DebugPackets { on } => match table.lock().await.set_packet_debug(on) {
            Ok(()) => {
                let state = if on { "on" } else { "off" };
                tracing::info!("packet debugging {state}");
                Response::Ok
            }
            Err(e) => Response::Error {
                kind: ErrorKind::Datapath,
                message: error_chain(&e),
            },
        },
        Request::MnAttach { mn_id, dev } => {
            mobility(maar, &mn_id, |maar, mn| maar.attach(mn, dev)).await
        }
        Request::MnDetach { mn_id } => {
            mobility(maar, &mn_id, anchor_maar::MaarHandle::detach).await
        }
        Request::MnList => match maar {
            Some(maar) => Response::MnList(MnListReport::from(&maar.list())),
            None => not_maar(),
        },
        Request::Stats => {
            let table = table.lock().await;
            match stats(&table) {
                Ok(report) => Response::Stats(report),
                Err(e) => Response::Error {
                    kind: ErrorKind::Datapath,
                    message: error_chain(&e),
                },
            }
        }
    }
}

/// An `mn` request: the MN-ID checked, then `call` on the MAAR.
async fn mobility<'a, F>(
    maar: Option<&'a MaarHandle>,
    mn_id: &str,
    call: impl FnOnce(&'a MaarHandle, MnId) -> F,
) -> Response
where
    F: Future<Output = Result<Ipv6Net, MaarError>>,
{
    let Some(maar) = maar else {
        return not_maar();
    };
    let Some(mn) = mn_id_from_mac(mn_id) else {
        return Response::Error {
            kind: ErrorKind::BadRequest,
            message: format!("mn_id {mn_id:?} is not a MAC address like 02:00:00:00:00:01"),
        };
    };
    match call(maar, mn).await {
        Ok(prefix) => Response::Mn { prefix },
        Err(e) => Response::Error {
            kind: ErrorKind::Mobility,
            message: e.to_string(),
        },
    }
}

fn not_maar() -> Response {
    Response::Error {
        kind: ErrorKind::NotMaar,
        message: "this daemon has no [maar] section".to_owned(),
    }
}

fn stats<D: DatapathPort, R>(table: &BindingTable<D, R>) -> Result<StatsReport, DatapathError>
where
    R: Routes,
{
    let datapath = table.datapath();
    let counters = datapath.counters()?.into_iter().map(Into::into).collect();
    let bindings = table
        .bindings()
        .map(|binding| {
            datapath
                .binding_stats(binding.slot)
                .map(|stats| BindingStatsInfo::new(binding, &stats))
        })
        .collect::<Result<_, _>>()?;
    Ok(StatsReport { counters, bindings })
}
