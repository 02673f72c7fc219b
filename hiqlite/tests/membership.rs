//! Membership changes through the library API: the same typed errors from an embedded node and a
//! remote client, and a new member whose address reaches another node's process refused by the
//! identity the process proves in the Raft handshake (an alias no address comparison can catch).

mod common;

use std::time::Duration;

use hiqlite::client::MembershipError;
use hiqlite::raft::Member;
use hiqlite::{Client, Error, NodeConfig};

use common::{free_ports, SECRET_API, SECRET_RAFT};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_that_reaches_another_node_is_refused() {
    let ports = free_ports(3);
    let dir = tempfile::tempdir().unwrap();
    // Node 1 listens on every interface, so 127.0.0.2 reaches it too.
    let config = NodeConfig::builder()
        .node_id(1)
        .node(
            1,
            format!("127.0.0.1:{}", ports[0]),
            format!("127.0.0.1:{}", ports[1]),
        )
        .listen_raft_addr(format!("0.0.0.0:{}", ports[0]))
        .data_dir(dir.path())
        .secret_raft(SECRET_RAFT)
        .secret_api(SECRET_API)
        .build()
        .unwrap();
    let node = hiqlite::start_node(config).await.unwrap();
    node.wait_until_healthy(Duration::from_secs(10))
        .await
        .unwrap();

    let alias = Member {
        id: 5,
        raft_addr: format!("127.0.0.2:{}", ports[0]),
        api_addr: format!("127.0.0.1:{}", ports[2]),
    };
    let e = node.add_node(alias.clone(), true).await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Membership(MembershipError::WrongNode {
                id: 5,
                actual: 1,
                ..
            })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("reaches node 1, not node 5"), "{e}");

    // A remote client gets the same variants.
    let remote = Client::remote(vec![format!("127.0.0.1:{}", ports[1])], SECRET_API);
    let e = remote.add_node(alias, false).await.unwrap_err();
    assert!(
        matches!(e, Error::Membership(MembershipError::WrongNode { .. })),
        "{e}"
    );
    let e = remote.remove_node(9).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Membership(MembershipError::NotAMember { id: 9, .. })
        ),
        "{e}"
    );
    let status = node.status().await.unwrap();
    assert_eq!((status.voters, status.learners), (vec![1], vec![]));
    node.shutdown().await.unwrap();
}
