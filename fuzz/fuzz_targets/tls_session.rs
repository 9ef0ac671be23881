//! A TLS server session after a real handshake, fed what the fuzzer makes of the
//! client's side: records sealed by the client, its close_notify, raw bytes, in
//! pieces (see `proxy_tls::fuzzing::fuzz_server_input`). It must end every input
//! without a panic, a hang or more plaintext than was sent.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    proxy_tls::fuzzing::fuzz_server_input(data);
});
