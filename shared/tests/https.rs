//! `--url https://...` works: reqwest's rustls has a crypto provider (ring) to build its TLS
//! configuration from. Fails in the world where no provider is compiled in, where building an
//! https-capable client returns an error.

use shared::workloads::{blocking_http_client, http_client};

#[test]
fn https_clients_can_be_built_with_the_ring_provider() {
    let url = "https://example.com/".parse().unwrap();
    http_client(&url).expect("async https client");
    blocking_http_client(&url).expect("blocking https client");
    let provider = rustls::crypto::CryptoProvider::get_default().expect("a provider was installed");
    // The suites come from ring: the same list ring's own provider offers.
    let ring = rustls::crypto::ring::default_provider();
    assert_eq!(
        provider.cipher_suites.len(),
        ring.cipher_suites.len(),
        "the installed provider is not ring's"
    );
}
