//! Reaching an agency: its endpoints from the directory in turn, the one
//! that last completed a handshake first (spec/transport.md, "Reaching an
//! agency").

use std::collections::HashMap;
use std::sync::Mutex;

use tally_wire::{AgencyId, Endpoint, Endpoints};

use crate::error::{ConnectionFailure, TransportError};
use crate::inner::Inner;

/// The endpoint of each agency that last completed a handshake, kept in
/// memory for the endpoint's life.
#[derive(Debug, Default)]
pub(crate) struct LastReached(Mutex<HashMap<AgencyId, Endpoint>>);

impl LastReached {
    /// The endpoint of `agency` that last completed a handshake.
    pub(crate) fn get(&self, agency: &AgencyId) -> Option<Endpoint> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(agency).cloned()
    }

    fn set(&self, agency: &AgencyId, endpoint: &Endpoint) {
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.insert(agency.clone(), endpoint.clone());
    }
}

/// The order in which to try `listed`: `last` first if it is still listed,
/// then the others in the directory's order.
pub(crate) fn dial_order<'a>(listed: &'a Endpoints, last: Option<&Endpoint>) -> Vec<&'a Endpoint> {
    let first = listed.iter().position(|e| Some(e) == last).unwrap_or(0);
    std::iter::once(&listed[first])
        .chain(listed.iter().enumerate().filter(|&(i, _)| i != first).map(|(_, e)| e))
        .collect()
}

impl<H> Inner<H> {
    /// A new connection to `agency`, authenticated against the directory,
    /// from the first of its `endpoints` (in [`dial_order`]) that completes
    /// a handshake, which is then remembered. If none does: the one
    /// endpoint's error, or every endpoint's as [`TransportError::Unreachable`].
    pub(crate) async fn handshake(
        &self,
        agency: &AgencyId,
        endpoints: &Endpoints,
    ) -> Result<quinn::Connection, TransportError> {
        let last = self.last_reached.get(agency);
        let mut failures = Vec::new();
        for endpoint in dial_order(endpoints, last.as_ref()) {
            match self.handshake_at(agency, endpoint).await {
                Ok(connection) => {
                    self.last_reached.set(agency, endpoint);
                    return Ok(connection);
                }
                // This endpoint's own failure, not the peer's: the same at every endpoint.
                Err(TransportError::Connection {
                    source: ConnectionFailure::Connect(quinn::ConnectError::EndpointStopping),
                    ..
                }) => return Err(TransportError::ShuttingDown),
                Err(e) => {
                    if endpoints.len() > 1 {
                        tracing::warn!(peer = %agency, %endpoint, error = %e, "an endpoint of the peer failed; trying its next");
                    }
                    failures.push((endpoint.clone(), e));
                }
            }
        }
        match failures.pop() {
            Some((_, only)) if failures.is_empty() => Err(only),
            Some(last) => {
                failures.push(last);
                Err(TransportError::Unreachable { agency: agency.clone(), attempts: failures })
            }
            None => Err(TransportError::UnknownAgency(agency.clone())),
        }
    }

    /// A connection to `agency` at `endpoint` (its name resolved, the first
    /// address taken), within the connect timeout, the lookup included.
    async fn handshake_at(&self, agency: &AgencyId, endpoint: &Endpoint) -> Result<quinn::Connection, TransportError> {
        let timeout = self.config.connect_timeout;
        let handshake = async {
            let resolve_error =
                |source| TransportError::Resolve { agency: agency.clone(), endpoint: endpoint.to_string(), source };
            let addr = tokio::net::lookup_host(endpoint.as_str())
                .await
                .map_err(resolve_error)?
                .next()
                .ok_or_else(|| resolve_error(std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))?;
            let connecting =
                self.quinn.connect(addr, agency.as_str()).map_err(|e| TransportError::connection(agency, e))?;
            connecting.await.map_err(|e| TransportError::connection(agency, e))
        };
        tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| TransportError::connection(agency, ConnectionFailure::HandshakeTimeout(timeout)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(list: &[&str]) -> Endpoints {
        Endpoints::new(list.iter().map(|e| Endpoint::new(*e).expect("valid")).collect()).expect("valid")
    }

    fn order(listed: &Endpoints, last: Option<&str>) -> Vec<String> {
        let last = last.map(|e| Endpoint::new(e).expect("valid"));
        dial_order(listed, last.as_ref()).into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn the_directory_order_until_an_endpoint_has_answered() {
        let listed = endpoints(&["a:1", "b:2", "c:3"]);
        assert_eq!(order(&listed, None), ["a:1", "b:2", "c:3"]);
    }

    #[test]
    fn the_endpoint_that_last_answered_first_then_the_others_in_order() {
        let listed = endpoints(&["a:1", "b:2", "c:3"]);
        assert_eq!(order(&listed, Some("b:2")), ["b:2", "a:1", "c:3"]);
        assert_eq!(order(&listed, Some("c:3")), ["c:3", "a:1", "b:2"]);
    }

    #[test]
    fn an_endpoint_no_longer_listed_is_not_tried() {
        let listed = endpoints(&["a:1", "b:2"]);
        assert_eq!(order(&listed, Some("z:9")), ["a:1", "b:2"]);
    }
}
