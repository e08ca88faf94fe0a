//! plugwire-certs
