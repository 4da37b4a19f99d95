//! Audit (placeholder while the node is built).
