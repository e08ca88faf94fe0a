//! plugwire-client
