//! plugwire-framework
