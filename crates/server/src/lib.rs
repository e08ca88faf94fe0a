//! plugwire-server
