//! plugwire-mcp
