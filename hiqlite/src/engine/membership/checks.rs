//! Checks a new member before anything is changed: its id and addresses are its own, and the
//! processes at its addresses are that node (proven in the Raft handshake, and by the id its API
//! reports), so one process can never be added as two members.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::MembershipError;
use crate::engine::protocol::{ApiRequest, ApiResponse};
use crate::engine::Engine;
use crate::net::{Channel, NetError, NodeIds, RpcClient};
use crate::raft::{Member, NodeId};

/// A node started just before `add-node` may not listen yet: it gets this long to answer.
const PROBE_WINDOW: Duration = Duration::from_secs(3);
const PROBE_PAUSE: Duration = Duration::from_millis(200);
/// How long resolving a host name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Refuses `member` if its id is a member with other addresses, or if one of its addresses is a
/// member's (compared as written, and as the sockets the names resolve to).
pub(super) async fn check_addresses(
    member: &Member,
    members: &BTreeMap<NodeId, Member>,
) -> Result<(), MembershipError> {
    if let Some(existing) = members.get(&member.id) {
        if existing.raft_addr != member.raft_addr || existing.api_addr != member.api_addr {
            return Err(MembershipError::IdInUse {
                id: member.id,
                raft_addr: existing.raft_addr.clone(),
                api_addr: existing.api_addr.clone(),
            });
        }
    }
    let own = [&member.raft_addr, &member.api_addr];
    for (id, other) in members.iter().filter(|(id, _)| **id != member.id) {
        for (used_as, used) in [
            ("raft address", &other.raft_addr),
            ("api address", &other.api_addr),
        ] {
            for addr in own {
                if same_endpoint(addr, used).await {
                    return Err(MembershipError::AddressInUse {
                        id: member.id,
                        addr: addr.clone(),
                        used_by: *id,
                        used_as: format!("{used_as} {used}"),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Whether two `host:port` addresses name the same socket: equal text, or a common resolved
/// address, or the same port with an unspecified host (`0.0.0.0`, `::`) on one side and a
/// loopback address on the other.
async fn same_endpoint(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let (Some(ra), Some(rb)) = (resolve(a).await, resolve(b).await) else {
        return false;
    };
    ra.iter().any(|x| {
        rb.iter().any(|y| {
            x == y
                || (x.port() == y.port()
                    && ((x.ip().is_unspecified() && y.ip().is_loopback())
                        || (y.ip().is_unspecified() && x.ip().is_loopback())))
        })
    })
}

async fn resolve(addr: &str) -> Option<Vec<SocketAddr>> {
    let lookup = tokio::net::lookup_host(addr.to_string());
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => Some(addrs.collect()),
        _ => None,
    }
}

/// Proves that the processes at `member`'s addresses are node `member.id`: its Raft port in the
/// handshake (it must prove its node id), its API port by the id it reports. A node that does not
/// answer gets [`PROBE_WINDOW`] to start listening.
pub(super) async fn probe(node: &Engine, member: &Member) -> Result<(), MembershipError> {
    let deadline = Instant::now() + PROBE_WINDOW;
    loop {
        match probe_once(node, member).await {
            Err(MembershipError::Unreachable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(PROBE_PAUSE).await;
            }
            other => return other,
        }
    }
}

async fn probe_once(node: &Engine, member: &Member) -> Result<(), MembershipError> {
    let (id, raft_addr) = (member.id, &member.raft_addr);
    let ids = NodeIds {
        local: node.node_id,
        expected: id,
    };
    let raft = RpcClient::connect_node_over(
        &node.raft_transport,
        raft_addr,
        &node.secret_raft,
        ids,
        node.max_frame_bytes,
    );
    match raft.await {
        Ok(_) => {}
        Err(NetError::WrongNode { actual, .. } | NetError::SameNodeId(actual)) => {
            return Err(MembershipError::WrongNode {
                id,
                addr: raft_addr.clone(),
                actual,
            })
        }
        Err(NetError::AuthFailed) => {
            return Err(MembershipError::Refused(format!(
                "node {id} at {raft_addr} does not know this cluster's secret_raft"
            )))
        }
        Err(e) => return Err(unreachable(id, raft_addr, e)),
    }

    let api_addr = &member.api_addr;
    let status = async {
        let client = RpcClient::connect_over(
            &node.api_transport,
            api_addr,
            &node.secret_api,
            Channel::Api,
            node.max_frame_bytes,
        )
        .await?;
        client
            .call::<_, ApiResponse>(&ApiRequest::Status, PROBE_WINDOW)
            .await
    };
    match status.await.map(ApiResponse::into_status) {
        Ok(Ok(s)) if s.node_id == id => Ok(()),
        Ok(Ok(s)) => Err(MembershipError::WrongNode {
            id,
            addr: api_addr.clone(),
            actual: s.node_id,
        }),
        Ok(Err(other)) => Err(MembershipError::Refused(format!(
            "{api_addr} answered a status request with {other:?}"
        ))),
        Err(NetError::AuthFailed) => Err(MembershipError::Refused(format!(
            "node {id} at {api_addr} does not know this cluster's secret_api"
        ))),
        Err(e) => Err(unreachable(id, api_addr, e)),
    }
}

fn unreachable(id: NodeId, addr: &str, e: NetError) -> MembershipError {
    MembershipError::Unreachable {
        id,
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: NodeId, raft: &str, api: &str) -> Member {
        Member {
            id,
            raft_addr: raft.into(),
            api_addr: api.into(),
        }
    }

    fn members() -> BTreeMap<NodeId, Member> {
        [
            member(1, "127.0.0.1:8101", "127.0.0.1:8201"),
            member(2, "127.0.0.1:8102", "127.0.0.1:8202"),
        ]
        .into_iter()
        .map(|m| (m.id, m))
        .collect()
    }

    #[tokio::test]
    async fn an_address_in_use_is_refused_however_it_is_written() {
        for addr in [
            "127.0.0.1:8101",
            "localhost:8101",
            "0.0.0.0:8101",
            "127.0.0.1:8202",
        ] {
            let new = member(5, addr, "127.0.0.1:9999");
            let e = check_addresses(&new, &members()).await.unwrap_err();
            assert!(
                matches!(&e, MembershipError::AddressInUse { used_by, .. } if *used_by != 5),
                "{addr}: {e}"
            );
        }
        let new = member(5, "127.0.0.1:9998", "localhost:8201");
        let e = check_addresses(&new, &members()).await.unwrap_err();
        assert!(
            matches!(e, MembershipError::AddressInUse { used_by: 1, .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_id_keeps_its_addresses() {
        let e = check_addresses(&member(2, "127.0.0.1:7000", "127.0.0.1:7001"), &members())
            .await
            .unwrap_err();
        assert!(matches!(e, MembershipError::IdInUse { id: 2, .. }), "{e}");
        // The same member again (e.g. to promote a learner) is fine.
        check_addresses(&member(2, "127.0.0.1:8102", "127.0.0.1:8202"), &members())
            .await
            .unwrap();
        check_addresses(&member(3, "127.0.0.1:8103", "127.0.0.1:8203"), &members())
            .await
            .unwrap();
    }
}
