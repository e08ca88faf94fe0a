//! plugwire-tls
