//! plugwire-plugins
