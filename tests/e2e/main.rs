//! End-to-end tests: the real `proxy` binary on loopback, driven by curl and raw
//! sockets, stopped by PID. Every wait is bounded.

mod bad_input;
mod codebase_bounds;
mod codecs;
mod compression;
mod designer;
mod docker;
mod esm;
mod fanout;
mod health;
mod http2;
mod http2_upstream;
mod jwt;
mod lifecycle;
mod limits;
mod modules;
mod proxy_faults;
mod proxy_protocol;
mod proxying;
mod reference;
mod reload;
mod remote;
mod scripts;
mod serve;
mod slow_clients;
mod socks;
mod static_files;
mod stream_utilities;
mod support;
mod tls;
mod tunnels;
mod tutorials;
mod udp;
mod vhosts;
