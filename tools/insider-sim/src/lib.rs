//! Insider One simulator (in progress).
