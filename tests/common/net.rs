//! Loopback addresses for the servers the tests start.

use std::net::SocketAddr;

/// 127.0.0.1 on a port the system picks: every listener a test starts binds this.
pub const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A port nothing listens on (bound, then released): connections to it are refused, like an
/// endpoint that is down. Also for peers that cannot bind port 0 and say which port they got.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// [`free_port`] as an address on 127.0.0.1.
pub fn down_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}
