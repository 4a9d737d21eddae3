//! REST view types.
